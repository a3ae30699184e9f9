package resonite

// Version is the version of this module. It is part of
// [DefaultUserAgent] and changes with each tagged release.
const Version = "0.1.0"

// DefaultUserAgent is the User-Agent header [API] sends unless
// [API.UserAgent] is set. It names the module, its version and its home
// page, so that the operators of the API can tell its traffic apart.
const DefaultUserAgent = "hubwire/" + Version + " (+https://github.com/hubwire/hubwire)"
