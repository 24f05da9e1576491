package xenstore

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

// kernelXenbus imitates the write side of Linux's /dev/xen/xenbus
// (drivers/xen/xenbus/xenbus_dev_frontend.c, xenbus_file_write): bytes
// accumulate until one whole message is buffered; that message is handled
// and the buffer is emptied, so whatever else the same write(2) carried is
// dropped while the write still returns its full length. Each handled
// request is answered (READ with "v", GET_PERMS with "r0", anything else
// with "OK") on the read side.
type kernelXenbus struct {
	mu      sync.Mutex
	buf     []byte
	handled int
	dropped int
	pr      *io.PipeReader
	pw      *io.PipeWriter
}

func newKernelXenbus() *kernelXenbus {
	k := &kernelXenbus{}
	k.pr, k.pw = io.Pipe()
	return k
}

func (k *kernelXenbus) Read(b []byte) (int, error) { return k.pr.Read(b) }

func (k *kernelXenbus) Close() error {
	k.pw.Close()
	return k.pr.Close()
}

func (k *kernelXenbus) Write(b []byte) (int, error) {
	k.mu.Lock()
	k.buf = append(k.buf, b...)
	if len(k.buf) < HeaderSize {
		k.mu.Unlock()
		return len(b), nil
	}
	m, rest, err := DecodeMsg(k.buf)
	if err != nil { // incomplete payload: wait for more
		k.mu.Unlock()
		return len(b), nil
	}
	k.dropped += len(rest)
	k.buf = k.buf[:0]
	k.handled++
	k.mu.Unlock()
	reply := []byte("OK\x00")
	switch m.Type {
	case TypeRead:
		reply = []byte("v")
	case TypeGetPerms:
		reply = JoinStrings("r0")
	}
	out := AppendHeader(nil, Header{Type: m.Type, ReqID: m.ReqID, TxID: m.TxID, Len: uint32(len(reply))})
	go k.pw.Write(append(out, reply...)) //nolint:errcheck
	return len(b), nil
}

func (k *kernelXenbus) counts() (handled, dropped int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.handled, k.dropped
}

// On the xenbus device the kernel handles one message per write: the
// pipelined READ + GET_PERMS of ReadWithPerms must leave in two writes, or
// GET_PERMS is dropped and the call times out (the guest agent's "xenstore
// GET_PERMS /xenradclock/clock: context deadline exceeded" in the Xen VM).
func TestDeviceOneMessagePerWrite(t *testing.T) {
	k := newKernelXenbus()
	c, err := newClient("fake-xenbus", true, func() (io.ReadWriteCloser, error) { return k, nil },
		[]Option{WithoutReconnect()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	v, ps, err := c.ReadWithPerms(ctx, "/xenradclock/clock")
	handled, dropped := k.counts()
	t.Logf("handled %d requests, dropped %d bytes", handled, dropped)
	if err != nil {
		t.Fatalf("ReadWithPerms over the device: %v", err)
	}
	if string(v) != "v" || len(ps) != 1 || ps.Owner() != 0 {
		t.Fatalf("value %q perms %v", v, ps)
	}
	if handled != 2 || dropped != 0 {
		t.Fatalf("device handled %d requests and dropped %d bytes, want 2 and 0", handled, dropped)
	}
	if st := c.Stats(); st.Requests != 2 || st.Flights != 1 {
		t.Fatalf("stats %+v: want 2 requests in one flight (no reply awaited between them)", st)
	}
}
