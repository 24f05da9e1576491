package hostclock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c := Default()
	c.Servers = []ServerConfig{{Address: "flag.example:123", Burst: -1}}
	in := `# a comment
server = 127.0.0.1:1123 poll=4s burst=2
server = [::1]:1124
server = ntp.example.org   # trailing comment
poll = 32s
counter = simulated
page = /tmp/page
xenstore = none
metrics = 127.0.0.1:9477
serve_ntp = [::1]:10123
state_interval = 30
select_hold = 10m
select_gain = 0.25
log_level = debug
`
	if err := c.Parse(strings.NewReader(in), "test.conf"); err != nil {
		t.Fatal(err)
	}
	want := []ServerConfig{
		{Address: "127.0.0.1:1123", Poll: 4 * time.Second, Burst: 2},
		{Address: "[::1]:1124", Burst: -1},
		{Address: "ntp.example.org:123", Burst: -1},
	}
	if len(c.Servers) != len(want) {
		t.Fatalf("servers %+v, want %+v", c.Servers, want)
	}
	for i := range want {
		if c.Servers[i] != want[i] {
			t.Errorf("server %d = %+v, want %+v", i, c.Servers[i], want[i])
		}
	}
	if c.Poll != 32*time.Second || c.Counter != "simulated" || c.Xenstore != "none" ||
		c.StateInterval != 30*time.Second || c.SelectHold != 10*time.Minute || c.SelectGain != 0.25 ||
		c.ServeNTP != "[::1]:10123" || c.LogLevel != "debug" {
		t.Errorf("parsed %+v", c)
	}
	if got := c.PollOf(c.Servers[0]); got != 4*time.Second {
		t.Errorf("PollOf = %v", got)
	}
	if got := c.PollOf(c.Servers[1]); got != 32*time.Second {
		t.Errorf("PollOf default = %v", got)
	}
	if got := c.BurstOf(c.Servers[1]); got != DefaultBurst {
		t.Errorf("BurstOf default = %v", got)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	cases := []struct{ in, key string }{
		{"poll = 0.5s", "poll"},
		{"poll = 2000s", "poll"},
		{"poll = fast", "poll"},
		{"pol = 16s", "pol"},
		{"server = host:99999", "server"},
		{"server = host poll=1h", "server"},
		{"server = host weight=3", "server"},
		{"server =", "server"},
		{"xenstore = maybe", "xenstore"},
		{"xenstore_path = relative/path", "xenstore_path"},
		{"metrics = localhost", "metrics"},
		{"log_level = loud", "log_level"},
		{"select_gain = 2", "select_gain"},
		{"burst = -1", "burst"},
		{"just a line", "just a line"},
	}
	for _, tc := range cases {
		c := Default()
		err := c.Parse(strings.NewReader("# header\n\n"+tc.in+"\n"), "dom0d.conf")
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v, want a ConfigError", tc.in, err)
			continue
		}
		if ce.Line != 3 || ce.Key != tc.key {
			t.Errorf("%q: line %d key %q, want line 3 key %q (%v)", tc.in, ce.Line, ce.Key, tc.key, err)
		}
		if !strings.Contains(err.Error(), "dom0d.conf:3") {
			t.Errorf("%q: message %q does not name the place", tc.in, err)
		}
	}
	c := Default()
	err := c.Parse(strings.NewReader("bogus = 1\n"), "x")
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil {
		t.Error("no servers accepted")
	}
	c.Servers = []ServerConfig{{Address: "a:123"}, {Address: "a:123"}}
	if err := c.Validate(); err == nil {
		t.Error("duplicate server accepted")
	}
}

func TestFileReplacesServersOnce(t *testing.T) {
	c := Default()
	c.Servers = []ServerConfig{{Address: "old:123"}}
	if err := c.Parse(strings.NewReader("server = a\nserver = b\n"), "x"); err != nil {
		t.Fatal(err)
	}
	if len(c.Servers) != 2 || c.Servers[0].Address != "a:123" || c.Servers[1].Address != "b:123" {
		t.Errorf("servers %+v", c.Servers)
	}
}

// The shipped default config must parse: every key it sets is real.
func TestDistConfigParses(t *testing.T) {
	path := filepath.Join("..", "dist", "dom0d.conf")
	if _, err := os.Stat(path); err != nil {
		t.Skip("dist/dom0d.conf not present:", err)
	}
	c := Default()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	// Uncomment every "#key = value" example line: they must parse too.
	b, _ := os.ReadFile(path)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") && strings.Contains(l, " = ") && !strings.HasPrefix(l, "# ") {
			lines = append(lines, strings.TrimPrefix(l, "#"))
		}
	}
	if len(lines) == 0 {
		t.Fatal("no commented examples in dist/dom0d.conf")
	}
	c = Default()
	if err := c.Parse(strings.NewReader(strings.Join(lines, "\n")), "examples"); err != nil {
		t.Fatal(err)
	}
}
