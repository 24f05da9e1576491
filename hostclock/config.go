// Package hostclock is the logic of dom0d, the host clock daemon: one
// feed-forward estimator per NTP server, the choice of a preferred server,
// publication of the preferred clock to Xenstore and the shared page, state
// persistence, status and metrics. dom0d itself only wires this package to
// flags, signals and the real sockets.
package hostclock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xenradclock/xenradclock/ntp"
)

// Poll period limits, as RADclock's RAD_MINPOLL and RAD_MAXPOLL.
const (
	MinPoll = time.Second
	MaxPoll = 1024 * time.Second
)

// Defaults of the configuration; docs/dom0d.md and dist/dom0d.conf repeat them.
const (
	DefaultPoll          = 16 * time.Second
	DefaultBurst         = 8
	DefaultCounter       = "auto"
	DefaultPage          = "/run/xenradclock/clock"
	DefaultStatus        = "/run/xenradclock/status.json"
	DefaultState         = "/var/lib/xenradclock/state.json"
	DefaultStateInterval = 5 * time.Minute
	DefaultStateMaxAge   = time.Hour
	DefaultXenstore      = "auto"
	DefaultXenstorePath  = "/xenradclock/clock"
	DefaultNTPPort       = "123"
	DefaultSelectStamps  = 20
	DefaultSelectGain    = 0.2
	DefaultMinSources    = 1
	// DefaultMaxInitialStep limits the first step onto the servers' time
	// where the host has a prior (the state file's clock, a synchronised
	// system clock).
	DefaultMaxInitialStep = time.Second
	DefaultLogLevel       = "info"
	// DefaultHoldPolls is the anti-churn hold time in poll periods when
	// select_hold is not set.
	DefaultHoldPolls = 32
)

// ServerConfig is one upstream NTP server.
type ServerConfig struct {
	Address string        // host:port, the port defaulted to 123
	Poll    time.Duration // 0: the global poll
	Burst   int           // -1: the global burst
}

// Config is dom0d's whole configuration. The zero value is not valid; start
// from Default and apply a file and flags on top.
type Config struct {
	Servers       []ServerConfig
	Poll          time.Duration
	Burst         int
	Counter       string
	Page          string // "" disables the shared page
	Status        string // "" disables the status file
	State         string // "" disables state persistence
	StateInterval time.Duration
	StateMaxAge   time.Duration
	Xenstore      string // auto | none | embedded | socket path
	XenstorePath  string
	HostName      string // published beside the record; "": os.Hostname, sanitised
	Metrics       string // listen address; "" disables
	ServeNTP      string // listen address; "" disables
	Record        string // trace file; "" disables
	LogLevel      string
	SelectHold    time.Duration // 0: DefaultHoldPolls × Poll
	SelectStamps  int
	SelectGain    float64
	// RelAsymBound bounds the path asymmetry as a fraction of the minimum
	// RTT; it scales the RTT term of the path penalty.
	RelAsymBound float64
	// MinSources is how many servers must agree (their intervals share a
	// point) before the clock is published as synchronised, when more than
	// one server is configured.
	MinSources int
	// MaxInitialStep is the largest first step onto the servers' time from
	// the host's prior (0: no limit); AllowInitialStep lets a larger one
	// through with a warning.
	MaxInitialStep   time.Duration
	AllowInitialStep bool
	// ServeNTPRateLimit limits how often each guest address is answered
	// by serve_ntp (nil: no limit).
	ServeNTPRateLimit *ntp.RateLimit
}

// Default returns the built-in configuration: no servers (a daemon needs at
// least one from the file or the flags).
func Default() Config {
	return Config{
		Poll:              DefaultPoll,
		Burst:             DefaultBurst,
		Counter:           DefaultCounter,
		Page:              DefaultPage,
		Status:            DefaultStatus,
		State:             DefaultState,
		StateInterval:     DefaultStateInterval,
		StateMaxAge:       DefaultStateMaxAge,
		Xenstore:          DefaultXenstore,
		XenstorePath:      DefaultXenstorePath,
		LogLevel:          DefaultLogLevel,
		SelectStamps:      DefaultSelectStamps,
		SelectGain:        DefaultSelectGain,
		RelAsymBound:      0.5,
		MinSources:        DefaultMinSources,
		MaxInitialStep:    DefaultMaxInitialStep,
		ServeNTPRateLimit: DefaultRateLimit(),
	}
}

// ConfigError names the file, line and key of a configuration mistake.
type ConfigError struct {
	File string
	Line int // 0 for flags
	Key  string
	Err  error
}

func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if where == "" {
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", where, e.Key, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by the ConfigError of a key dom0d does not know.
var ErrUnknownKey = errors.New("unknown key")

// LoadFile reads a configuration file on top of c.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return c.Parse(f, path)
}

// Parse reads the configuration format on top of c: one `key = value` per
// line, `#` starts a comment, blank lines are ignored, `server` may repeat
// (each line adds a server; the first server line replaces servers set
// before the file). name is used in error messages.
func (c *Config) Parse(r io.Reader, name string) error {
	return ParseKeyValues(r, name, "server", func() { c.Servers = nil }, c.Set)
}

// ParseKeyValues reads the `key = value` format (dom0d's and domu-agent's)
// and calls set for every line; before the first line of key repeat it
// calls reset, so a repeatable key in a file replaces the values set before
// it. Errors are *ConfigError naming the file, line and key.
func ParseKeyValues(r io.Reader, name, repeat string, reset func(), set func(key, value string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	line := 0
	sawRepeat := false
	seen := map[string]int{} // key → line it was set on
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			// A UTF-8 byte order mark (editors on some systems write one)
			// is not part of the first key.
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if !utf8.ValidString(text) {
			return &ConfigError{File: name, Line: line, Err: errors.New("not valid UTF-8")}
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		if !ok {
			return &ConfigError{File: name, Line: line, Key: key, Err: errors.New(`expected "key = value"`)}
		}
		if key == repeat && !sawRepeat {
			reset()
			sawRepeat = true
		}
		if prev, dup := seen[key]; dup && key != repeat {
			return &ConfigError{File: name, Line: line, Key: key,
				Err: fmt.Errorf("set twice, on lines %d and %d (only %s may repeat)", prev, line, repeat)}
		}
		seen[key] = line
		if err := set(key, value); err != nil {
			return &ConfigError{File: name, Line: line, Key: key, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &ConfigError{File: name, Line: line + 1, Key: "", Err: err}
	}
	return nil
}

// Set applies one key. Flags and the file go through it, so both accept and
// reject exactly the same values.
func (c *Config) Set(key, value string) error {
	var err error
	switch key {
	case "server":
		var s ServerConfig
		s, err = ParseServer(value)
		if err == nil {
			c.Servers = append(c.Servers, s)
		}
	case "poll":
		c.Poll, err = parsePoll(value)
	case "burst":
		c.Burst, err = parseIntRange(value, 0, 64)
	case "counter":
		if value == "" || strings.ContainsAny(value, " \t") {
			err = fmt.Errorf("bad counter name %q", value)
		}
		c.Counter = value
	case "page":
		c.Page = value
	case "status":
		c.Status = value
	case "state":
		c.State = value
	case "state_interval":
		c.StateInterval, err = parseDurationRange(value, time.Second, 24*time.Hour)
	case "state_max_age":
		c.StateMaxAge, err = parseDurationRange(value, time.Second, 30*24*time.Hour)
	case "xenstore":
		if value == "" {
			err = errors.New("empty (use auto, none, embedded or a socket path)")
		} else if value != "auto" && value != "none" && value != "embedded" && !strings.HasPrefix(value, "/") {
			err = fmt.Errorf("%q is not auto, none, embedded or an absolute socket path", value)
		}
		c.Xenstore = value
	case "xenstore_path":
		err = checkXenstorePath(value)
		c.XenstorePath = value
	case "host_name":
		if value != "" && SanitizeHostName(value) != value {
			err = fmt.Errorf("%q: a host name is at most 64 bytes of [A-Za-z0-9._-]", value)
		}
		c.HostName = value
	case "metrics":
		err = checkListenAddr(value)
		c.Metrics = value
	case "serve_ntp":
		err = checkListenAddr(value)
		c.ServeNTP = value
	case "serve_ntp_ratelimit":
		c.ServeNTPRateLimit, err = ParseRateLimit(value)
	case "record":
		c.Record = value
	case "log_level":
		switch value {
		case "debug", "info", "warn", "error":
		default:
			err = fmt.Errorf("%q is not debug, info, warn or error", value)
		}
		c.LogLevel = value
	case "select_hold":
		if value == "auto" || value == "0" {
			c.SelectHold = 0
		} else {
			c.SelectHold, err = parseDurationRange(value, time.Second, 7*24*time.Hour)
		}
	case "select_min_stamps":
		c.SelectStamps, err = parseIntRange(value, 1, 100000)
	case "select_gain":
		c.SelectGain, err = parseFloatRange(value, 0, 0.99)
	case "minsources":
		c.MinSources, err = parseIntRange(value, 1, 64)
	case "max_initial_step":
		if value == "none" || value == "0" {
			c.MaxInitialStep = 0
		} else {
			c.MaxInitialStep, err = parseDurationRange(value, time.Millisecond, 100*365*24*time.Hour)
		}
	case "allow_initial_step":
		c.AllowInitialStep, err = parseBool(value)
	case "relasym_bound":
		c.RelAsymBound, err = parseFloatRange(value, 0, 1)
	default:
		return ErrUnknownKey
	}
	return err
}

// ParseServer parses `HOST[:PORT] [poll=DURATION] [burst=N]`. An IPv6
// address with a port is written in brackets, [2001:db8::1]:123.
func ParseServer(value string) (ServerConfig, error) {
	fields := strings.Fields(value)
	if len(fields) == 0 {
		return ServerConfig{}, errors.New("empty server")
	}
	addr, err := normalizeHostPort(fields[0])
	if err != nil {
		return ServerConfig{}, err
	}
	s := ServerConfig{Address: addr, Burst: -1}
	for _, opt := range fields[1:] {
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			return ServerConfig{}, fmt.Errorf("server option %q: expected name=value", opt)
		}
		switch k {
		case "poll":
			s.Poll, err = parsePoll(v)
		case "burst":
			s.Burst, err = parseIntRange(v, 0, 64)
		default:
			return ServerConfig{}, fmt.Errorf("unknown server option %q (known: poll, burst)", k)
		}
		if err != nil {
			return ServerConfig{}, fmt.Errorf("server option %s: %w", k, err)
		}
	}
	return s, nil
}

func normalizeHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare name, IPv4 or IPv6 address.
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			s = s[1 : len(s)-1]
		}
		host, port = s, DefaultNTPPort
	}
	if host == "" || strings.ContainsAny(host, "/ \t[]") {
		return "", fmt.Errorf("bad server host %q", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("bad server port %q", port)
	}
	return net.JoinHostPort(host, port), nil
}

// checkXenstorePath accepts an absolute, normalised Xenstore node path: no
// empty, "." or ".." element, only the characters Xenstore allows
// (letters, digits, - _ @), at most 3072 bytes (XENSTORE_ABS_PATH_MAX).
func checkXenstorePath(v string) error {
	if !strings.HasPrefix(v, "/") || v == "/" {
		return fmt.Errorf("%q is not an absolute Xenstore node path", v)
	}
	if len(v) > 3072 {
		return fmt.Errorf("xenstore_path of %d bytes, longer than 3072", len(v))
	}
	for _, el := range strings.Split(v[1:], "/") {
		switch el {
		case "":
			return fmt.Errorf("%q has an empty element (// or a trailing /)", v)
		case ".", "..":
			return fmt.Errorf("%q has a %q element; give the node's normalised path", v, el)
		}
		for _, r := range el {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '@') {
				return fmt.Errorf("%q: character %q is not allowed in a Xenstore path", v, r)
			}
		}
	}
	return nil
}

func checkListenAddr(v string) error {
	if v == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("bad port in %q", v)
	}
	return nil
}

func parsePoll(v string) (time.Duration, error) {
	return parseDurationRange(v, MinPoll, MaxPoll)
}

// parseDurationRange accepts Go durations ("16s", "1m30s") and bare numbers
// of seconds ("16").
func parseDurationRange(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 16s, 2m)", v)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < lo || d > hi {
		return 0, fmt.Errorf("%v is outside %v..%v", d, lo, hi)
	}
	return d, nil
}

// Rate limit of the NTP service, chrony's ratelimit defaults: one request
// per 2^3 s on average per address, bursts of 8; excess requests get a RATE
// kiss-o'-death (the size of the request) so clients slow down.
const (
	DefaultRateInterval = 8 * time.Second
	DefaultRateBurst    = 8
)

// DefaultRateLimit is serve_ntp_ratelimit's default.
func DefaultRateLimit() *ntp.RateLimit {
	return &ntp.RateLimit{Interval: DefaultRateInterval, Burst: DefaultRateBurst, KoD: true}
}

// ParseRateLimit parses serve_ntp_ratelimit: "off", "on" (the defaults), or
// options "interval=DURATION burst=N kod=yes|no", unset ones defaulted.
func ParseRateLimit(v string) (*ntp.RateLimit, error) {
	switch v {
	case "off", "no":
		return nil, nil
	case "on", "yes", "":
		return DefaultRateLimit(), nil
	}
	rl := DefaultRateLimit()
	for _, opt := range strings.Fields(v) {
		k, val, ok := strings.Cut(opt, "=")
		if !ok {
			return nil, fmt.Errorf("option %q: expected name=value (or on, off)", opt)
		}
		var err error
		switch k {
		case "interval":
			rl.Interval, err = parseDurationRange(val, time.Millisecond, time.Hour)
		case "burst":
			rl.Burst, err = parseIntRange(val, 1, 1024)
		case "kod":
			rl.KoD, err = parseBool(val)
		default:
			return nil, fmt.Errorf("unknown option %q (known: interval, burst, kod)", k)
		}
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", k, err)
		}
	}
	return rl, nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

func parseIntRange(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return n, nil
}

func parseFloatRange(v string, lo, hi float64) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if !(f >= lo && f <= hi) {
		return 0, fmt.Errorf("%g is outside %g..%g", f, lo, hi)
	}
	return f, nil
}

// Validate checks what no single key can: at least one server, no server
// twice.
func (c *Config) Validate() error {
	if len(c.Servers) == 0 {
		return &ConfigError{Key: "server", Err: errors.New("no server configured (set server = HOST in the config file or --server)")}
	}
	seen := map[string]bool{}
	for _, s := range c.Servers {
		if seen[s.Address] {
			return &ConfigError{Key: "server", Err: fmt.Errorf("%s listed twice", s.Address)}
		}
		seen[s.Address] = true
	}
	return nil
}

// PollOf is the poll period of server s.
func (c *Config) PollOf(s ServerConfig) time.Duration {
	if s.Poll > 0 {
		return s.Poll
	}
	return c.Poll
}

// BurstOf is the initial burst of server s.
func (c *Config) BurstOf(s ServerConfig) int {
	if s.Burst >= 0 {
		return s.Burst
	}
	return c.Burst
}

// Hold is the anti-churn hold time of preferred-server selection.
func (c *Config) Hold() time.Duration {
	if c.SelectHold > 0 {
		return c.SelectHold
	}
	return DefaultHoldPolls * c.Poll
}
