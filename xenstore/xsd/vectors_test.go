package xsd_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xenradclock/xenradclock/xenstore"
	"github.com/xenradclock/xenradclock/xenstore/xsd"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.txt from the server's answers")

const vectorFile = "../testdata/vectors.txt"

// vectorSpec is one request of the vector sequence. All run in order on
// one domain-0 connection of a fresh server; "client" marks the ones the
// Go client produces itself (they come first, with req ids 1, 2, ...).
type vectorSpec struct {
	name   string
	client bool
	typ    xenstore.MsgType
	tx     uint32
	pay    []byte
	reqID  uint32 // 0: the running counter
	zeroID bool   // req_id 0, as libxenstore sends every request
}

func js(s ...string) []byte { return xenstore.JoinStrings(s...) }

var vectorSpecs = []vectorSpec{
	{name: "write", client: true, typ: xenstore.TypeWrite, pay: []byte("/a\x00hello")},
	{name: "read", client: true, typ: xenstore.TypeRead, pay: js("/a")},
	{name: "read-enoent", client: true, typ: xenstore.TypeRead, pay: js("/nope")},
	{name: "mkdir", client: true, typ: xenstore.TypeMkdir, pay: js("/a/d")},
	{name: "directory", client: true, typ: xenstore.TypeDirectory, pay: js("/a")},
	{name: "get-perms", client: true, typ: xenstore.TypeGetPerms, pay: js("/a")},
	{name: "set-perms", client: true, typ: xenstore.TypeSetPerms, pay: js("/a", "n0", "r5")},
	{name: "watch", client: true, typ: xenstore.TypeWatch, pay: js("/a", "tok")},
	{name: "write-fires-watch", client: true, typ: xenstore.TypeWrite, pay: []byte("/a/e\x00")},
	{name: "unwatch", client: true, typ: xenstore.TypeUnwatch, pay: js("/a", "tok")},
	{name: "transaction-start", client: true, typ: xenstore.TypeTransactionStart, pay: js("")},
	{name: "write-in-transaction", client: true, typ: xenstore.TypeWrite, tx: 1, pay: []byte("/a/t\x00x")},
	{name: "transaction-end-commit", client: true, typ: xenstore.TypeTransactionEnd, tx: 1, pay: js("T")},
	{name: "rm", client: true, typ: xenstore.TypeRm, pay: js("/a/t")},
	{name: "get-domain-path", client: true, typ: xenstore.TypeGetDomainPath, pay: js("5")},
	{name: "is-domain-introduced", client: true, typ: xenstore.TypeIsDomainIntroduced, pay: js("0")},
	{name: "transaction-start-2", client: true, typ: xenstore.TypeTransactionStart, pay: js("")},
	{name: "read-in-transaction", client: true, typ: xenstore.TypeRead, tx: 2, pay: js("/a")},
	{name: "write-outside", client: true, typ: xenstore.TypeWrite, pay: []byte("/a\x00changed")},
	{name: "transaction-end-eagain", client: true, typ: xenstore.TypeTransactionEnd, tx: 2, pay: js("T")},
	{name: "reset-watches", client: true, typ: xenstore.TypeResetWatches, pay: js("")},
	// Server-only: what other clients and toolstacks send.
	{name: "directory-part", typ: xenstore.TypeDirectoryPart, pay: js("/a", "0")},
	{name: "directory-part-end", typ: xenstore.TypeDirectoryPart, pay: js("/a", "4")},
	{name: "introduce", typ: xenstore.TypeIntroduce, pay: js("7", "1234", "5")},
	{name: "is-domain-introduced-7", typ: xenstore.TypeIsDomainIntroduced, pay: js("7")},
	{name: "release", typ: xenstore.TypeRelease, pay: js("7")},
	{name: "resume-enosys", typ: xenstore.TypeResume, pay: js("7")},
	{name: "set-target-enosys", typ: xenstore.TypeSetTarget, pay: js("7", "8")},
	{name: "control-enosys", typ: xenstore.TypeControl, pay: js("print", "x")},
	{name: "get-feature-enosys", typ: xenstore.TypeGetFeature, pay: js("")},
	{name: "restrict-removed-enosys", typ: 20, pay: js("7")},
	{name: "watch-event-from-client-enosys", typ: xenstore.TypeWatchEvent, pay: js("/a", "t")},
	{name: "read-missing-nul-einval", typ: xenstore.TypeRead, pay: []byte("/a")},
	{name: "read-two-strings-einval", typ: xenstore.TypeRead, pay: js("/a", "b")},
	{name: "unknown-transaction-enoent", typ: xenstore.TypeRead, tx: 99, pay: js("/a")},
	{name: "transaction-start-in-transaction-ebusy", typ: xenstore.TypeTransactionStart, tx: 3, pay: js("")},
	{name: "req-id-echoed", typ: xenstore.TypeRead, reqID: 0xffffffff, pay: js("/a/d")},
	{name: "libxenstore-req-id-0", typ: xenstore.TypeGetPerms, zeroID: true, pay: js("/a/d")},
}

type vector struct {
	name    string
	client  bool
	request []byte
	replies [][]byte
}

func parseVectors(t testing.TB) []vector {
	f, err := os.Open(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 && !strings.HasPrefix(line, "## ") {
			line = line[:i]
		}
		switch {
		case strings.HasPrefix(line, "## "):
			f := strings.Fields(line[3:])
			out = append(out, vector{name: f[0], client: len(f) > 1 && f[1] == "client"})
		case strings.HasPrefix(line, ">"), strings.HasPrefix(line, "<"):
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line[1:]), " ", ""))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			v := &out[len(out)-1]
			if line[0] == '>' {
				v.request = b
			} else {
				v.replies = append(v.replies, b)
			}
		}
	}
	return out
}

func hexMsg(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b) && i < 16; i += 4 {
		s.WriteString(hex.EncodeToString(b[i:min(i+4, len(b))]))
		s.WriteByte(' ')
	}
	if len(b) > 16 {
		s.WriteString(hex.EncodeToString(b[16:]))
	}
	return strings.TrimSpace(s.String())
}

func describe(b []byte) string {
	m, _, err := xenstore.DecodeMsg(b)
	if err != nil {
		return "malformed: " + err.Error()
	}
	return fmt.Sprintf("%s req=%d tx=%d len=%d %q", m.Type, m.ReqID, m.TxID, m.Len, m.Payload)
}

// TestVectors runs the byte-for-byte vectors against a fresh server: each
// request must produce exactly the recorded replies and events, in order.
func TestVectors(t *testing.T) {
	srv, err := xsd.New(xsd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, b := net.Pipe()
	go srv.Serve(b, 0)
	defer a.Close()

	exchange := func(req []byte, want int) [][]byte {
		a.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := a.Write(req); err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		for {
			if want >= 0 && len(got) == want {
				return got
			}
			if want < 0 {
				a.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			}
			m, err := xenstore.ReadMsg(a)
			if err != nil {
				if want < 0 {
					return got
				}
				t.Fatal(err)
			}
			enc, _ := m.Encode()
			got = append(got, enc)
			if want < 0 && m.Type != xenstore.TypeWatchEvent {
				// Replies end an exchange, but an event may follow (WATCH).
				a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if m2, err := xenstore.ReadMsg(a); err == nil {
					enc2, _ := m2.Encode()
					got = append(got, enc2)
				}
				return got
			}
		}
	}

	if *update {
		var out strings.Builder
		out.WriteString("# Xenstore wire vectors, generated by `go test ./xenstore/xsd -run TestVectors -update`\n")
		out.WriteString("# and checked byte for byte by the server (xsd) and client (xenstore) tests.\n")
		out.WriteString("# One fresh server, one domain-0 connection, requests in order. '>' is a\n")
		out.WriteString("# request, '<' a reply or event. Header: type, req_id, tx_id, len as\n")
		out.WriteString("# little-endian uint32 (host order on x86 and Arm), then the payload.\n")
		out.WriteString("# 'client' marks requests the Go client sends itself, with req ids 1, 2, ...\n")
		req := uint32(0)
		for _, s := range vectorSpecs {
			req++
			id := req
			if s.reqID != 0 {
				id = s.reqID
			}
			if s.zeroID {
				id = 0
			}
			m := xenstore.Msg{Header: xenstore.Header{Type: s.typ, ReqID: id, TxID: s.tx}, Payload: s.pay}
			enc, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			flag := ""
			if s.client {
				flag = " client"
			}
			fmt.Fprintf(&out, "\n## %s%s\n> %s\n#   %s\n", s.name, flag, hexMsg(enc), describe(enc))
			for _, r := range exchange(enc, -1) {
				fmt.Fprintf(&out, "< %s\n#   %s\n", hexMsg(r), describe(r))
			}
		}
		if err := os.WriteFile(vectorFile, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}

	vs := parseVectors(t)
	if len(vs) != len(vectorSpecs) {
		t.Fatalf("%d vectors in file, %d specs: run with -update", len(vs), len(vectorSpecs))
	}
	for _, v := range vs {
		got := exchange(v.request, len(v.replies))
		for i := range v.replies {
			if !bytes.Equal(got[i], v.replies[i]) {
				t.Errorf("%s: reply %d\n got  %s (%s)\n want %s (%s)", v.name, i, hexMsg(got[i]), describe(got[i]), hexMsg(v.replies[i]), describe(v.replies[i]))
			}
		}
	}
	// Nothing extra pending.
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if m, err := xenstore.ReadMsg(a); err == nil {
		t.Fatalf("unexpected extra message %s", m.Type)
	}
}

// TestDocVectors keeps docs/xenstore.md's copy of the vectors exact.
func TestDocVectors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/xenstore.md")
	if err != nil {
		t.Fatal(err)
	}
	vec, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, vec) {
		t.Fatal("docs/xenstore.md does not contain testdata/vectors.txt verbatim; regenerate its last section")
	}
}
