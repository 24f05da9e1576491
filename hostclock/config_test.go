package hostclock

import (
	"bytes"
	"errors"
	"fmt"
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

// A key set twice is an error naming both lines; server may repeat.
func TestConfigDuplicateKey(t *testing.T) {
	c := Default()
	err := c.Parse(strings.NewReader("server = a\npoll = 16s\n# note\nserver = b\npoll = 32s\n"), "dom0d.conf")
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 5 || ce.Key != "poll" || !strings.Contains(err.Error(), "lines 2 and 5") {
		t.Fatalf("duplicate poll: %v", err)
	}
}

// A UTF-8 byte order mark before the first key is accepted; invalid UTF-8
// is refused with its line.
func TestConfigBOMAndEncoding(t *testing.T) {
	c := Default()
	if err := c.Parse(strings.NewReader("\ufeffpoll = 32s\nserver = a\n"), "bom.conf"); err != nil || c.Poll != 32*time.Second {
		t.Fatalf("BOM: %v (poll %v)", err, c.Poll)
	}
	c = Default()
	err := c.Parse(strings.NewReader("server = a\npage = /tmp/\xff\n"), "bad.conf")
	if err == nil || !strings.Contains(err.Error(), "bad.conf:2") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	c = Default()
	if err := c.Parse(strings.NewReader("server = a\n\ufeffpoll = 32s\n"), "mid.conf"); err == nil {
		t.Error("a BOM inside the file accepted")
	}
}

func TestConfigXenstorePath(t *testing.T) {
	for _, ok := range []string{"/xenradclock/clock", "/local/domain/0/data/clock_1", "/a@b-c"} {
		c := Default()
		if err := c.Set("xenstore_path", ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"xenradclock/clock", "/", "/a/../b", "/a/./b", "/a//b", "/a/", "/a b", "/a/\x1b[2J",
		"/" + strings.Repeat("a", 3072)} {
		c := Default()
		if err := c.Set("xenstore_path", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigRateLimit(t *testing.T) {
	c := Default()
	if rl := c.ServeNTPRateLimit; rl == nil || rl.Interval != 8*time.Second || rl.Burst != 8 || !rl.KoD {
		t.Fatalf("default rate limit %+v", rl)
	}
	cases := map[string]string{"off": "<nil>", "on": "&{8s 8 true}", "interval=2s": "&{2s 8 true}",
		"burst=3 kod=no": "&{8s 3 false}"}
	for in, want := range cases {
		c := Default()
		if err := c.Set("serve_ntp_ratelimit", in); err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		got := "<nil>"
		if rl := c.ServeNTPRateLimit; rl != nil {
			got = fmt.Sprintf("&{%v %d %v}", rl.Interval, rl.Burst, rl.KoD)
		}
		if got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"fast", "interval=0s", "burst=0", "kod=maybe", "leak=2"} {
		c := Default()
		if err := c.Set("serve_ntp_ratelimit", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigInitialStepKeys(t *testing.T) {
	c := Default()
	if c.MaxInitialStep != time.Second || c.AllowInitialStep || c.MinSources != 1 {
		t.Fatalf("defaults: %v %v %d", c.MaxInitialStep, c.AllowInitialStep, c.MinSources)
	}
	in := "server = a\nmax_initial_step = 30s\nallow_initial_step = yes\nminsources = 2\n"
	if err := c.Parse(strings.NewReader(in), "x"); err != nil {
		t.Fatal(err)
	}
	if c.MaxInitialStep != 30*time.Second || !c.AllowInitialStep || c.MinSources != 2 {
		t.Errorf("parsed %v %v %d", c.MaxInitialStep, c.AllowInitialStep, c.MinSources)
	}
	if err := c.Set("max_initial_step", "none"); err != nil || c.MaxInitialStep != 0 {
		t.Errorf("none: %v %v", err, c.MaxInitialStep)
	}
	for k, v := range map[string]string{"minsources": "0", "allow_initial_step": "maybe", "max_initial_step": "-1s"} {
		if err := c.Set(k, v); err == nil {
			t.Errorf("%s = %s accepted", k, v)
		}
	}
}

// FuzzConfigParse: any file gives a configuration or an error naming the
// file (with a line when one is at fault), never a panic.
func FuzzConfigParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "dist", "dom0d.conf")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("server = 127.0.0.1:123 poll=4s burst=2\npoll = 16\n"))
	f.Add([]byte("\ufeffserver = [::1]\nserve_ntp_ratelimit = interval=2s burst=3 kod=no\n"))
	f.Add([]byte("xenstore_path = /a/../b\npoll = 1s\npoll = 2s\n"))
	f.Add([]byte("server = a\x00b\nmax_initial_step = none\nallow_initial_step = yes\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		err := c.Parse(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.XenstorePath != DefaultXenstorePath && checkXenstorePath(c.XenstorePath) != nil {
			t.Fatalf("accepted xenstore_path %q", c.XenstorePath)
		}
		for _, s := range c.Servers {
			if _, err := ParseServer(s.Address); err != nil {
				t.Fatalf("accepted server %q does not parse again: %v", s.Address, err)
			}
		}
		_ = c.Validate()
	})
}
