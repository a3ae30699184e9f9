// Package resonite is a client for the cloud API of Resonite: login and
// session tokens over REST, the data models of the API, and a typed client
// for its SignalR hub.
//
// The API is unofficial: the Resonite team documents it on its wiki but
// gives no guarantees, and it changes without notice. What this package
// does follows that wiki page and the behavior of several independent
// clients. Behavior that only one client shows, or that no client confirms,
// is marked as such in the documentation of the function concerned.
//
// The models decode tolerantly, because strict decoding has broken clients
// when the server changed: unknown fields are ignored, enums accept any
// letter case and keep unknown values, and timestamps without a zone are
// read as UTC. Encoding always writes enums as strings.
//
// The package logs only to a [*slog.Logger] the caller supplies, and never
// logs or puts into an error a password, token, TOTP code or Authorization
// header.
//
// Package resonitetest provides a fake of the REST API and the hub on a
// loopback port for tests and examples.
package resonite
