package hostclock

import (
	"strings"
	"testing"
)

// monotonic-raw serves a plain clock daemon's page (same OS, same
// timeline) but is refused when Xenstore would carry the record to guests.
func TestMonotonicRawPageOnly(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, []string{"127.0.0.1:123"})
	if err := cfg.Set("counter", "monotonic-raw"); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatalf("monotonic-raw with xenstore = none: %v", err)
	}
	if d.Counter().Name() != "monotonic-raw" {
		t.Errorf("counter %s", d.Counter().Name())
	}
	d.close()

	cfg.Xenstore = "embedded"
	_, err = New(cfg, Options{EmbeddedSocket: dir + "/xs.socket"})
	if err == nil || !strings.Contains(err.Error(), "xenstore = none") {
		t.Errorf("monotonic-raw published to Xenstore: %v; want a refusal naming xenstore = none", err)
	}
}
