module github.com/hubwire/hubwire

go 1.26

require (
	github.com/gobwas/ws v1.5.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	pgregory.net/rapid v1.3.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
