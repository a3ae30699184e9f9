package conformance

import (
	"net/http"
	"testing"
)

func TestConnHeader(t *testing.T) {
	srv := startServer(t, Options{})
	header := http.Header{}
	header.Set("Authorization", "res U-alice:secret")
	header.Set("X-Client", "header-test")
	c := dialRaw(t, srv.HubURL(), header)
	c.handshake()

	conn := onlyConn(t, srv)
	got := conn.Header()
	if v := got.Get("Authorization"); v != "res U-alice:secret" {
		t.Errorf("Header().Get(Authorization) = %q; want the upgrade request's value", v)
	}
	if v := got.Get("X-Client"); v != "header-test" {
		t.Errorf("Header().Get(X-Client) = %q; want %q", v, "header-test")
	}

	got.Set("X-Client", "changed")
	if v := conn.Header().Get("X-Client"); v != "header-test" {
		t.Errorf("after changing the returned header, Header().Get(X-Client) = %q; want a copy each time", v)
	}
}
