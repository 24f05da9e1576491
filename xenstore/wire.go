package xenstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MsgType is the type field of a Xenstore message header (enum
// xsd_sockmsg_type in Xen's xs_wire.h). The numbers are ABI.
type MsgType uint32

// Message types. INTRODUCE, RELEASE, RESUME and SET_TARGET are toolstack
// operations: the client defines them so that it can decode and name them,
// but never sends them.
const (
	TypeControl            MsgType = 0 // alias DEBUG
	TypeDirectory          MsgType = 1
	TypeRead               MsgType = 2
	TypeGetPerms           MsgType = 3
	TypeWatch              MsgType = 4
	TypeUnwatch            MsgType = 5
	TypeTransactionStart   MsgType = 6
	TypeTransactionEnd     MsgType = 7
	TypeIntroduce          MsgType = 8
	TypeRelease            MsgType = 9
	TypeGetDomainPath      MsgType = 10
	TypeWrite              MsgType = 11
	TypeMkdir              MsgType = 12
	TypeRm                 MsgType = 13
	TypeSetPerms           MsgType = 14
	TypeWatchEvent         MsgType = 15
	TypeError              MsgType = 16
	TypeIsDomainIntroduced MsgType = 17
	TypeResume             MsgType = 18
	TypeSetTarget          MsgType = 19
	// 20 was RESTRICT; it is removed and invalid.
	TypeResetWatches  MsgType = 21
	TypeDirectoryPart MsgType = 22
	TypeGetFeature    MsgType = 23
	TypeSetFeature    MsgType = 24
	TypeGetQuota      MsgType = 25
	TypeSetQuota      MsgType = 26
	TypeInvalid       MsgType = 0xffff
)

var typeNames = map[MsgType]string{
	TypeControl: "CONTROL", TypeDirectory: "DIRECTORY", TypeRead: "READ",
	TypeGetPerms: "GET_PERMS", TypeWatch: "WATCH", TypeUnwatch: "UNWATCH",
	TypeTransactionStart: "TRANSACTION_START", TypeTransactionEnd: "TRANSACTION_END",
	TypeIntroduce: "INTRODUCE", TypeRelease: "RELEASE", TypeGetDomainPath: "GET_DOMAIN_PATH",
	TypeWrite: "WRITE", TypeMkdir: "MKDIR", TypeRm: "RM", TypeSetPerms: "SET_PERMS",
	TypeWatchEvent: "WATCH_EVENT", TypeError: "ERROR",
	TypeIsDomainIntroduced: "IS_DOMAIN_INTRODUCED", TypeResume: "RESUME",
	TypeSetTarget: "SET_TARGET", TypeResetWatches: "RESET_WATCHES",
	TypeDirectoryPart: "DIRECTORY_PART", TypeGetFeature: "GET_FEATURE",
	TypeSetFeature: "SET_FEATURE", TypeGetQuota: "GET_QUOTA", TypeSetQuota: "SET_QUOTA",
	TypeInvalid: "INVALID",
}

func (t MsgType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "TYPE_" + strconv.FormatUint(uint64(t), 10)
}

// Known reports whether t is a message type of the protocol.
func (t MsgType) Known() bool {
	_, ok := typeNames[t]
	return ok && t != TypeInvalid
}

// Protocol limits (xs_wire.h).
const (
	HeaderSize = 16
	// PayloadMax is XENSTORE_PAYLOAD_MAX: the largest payload in either
	// direction. xenstored drops a connection that sends more.
	PayloadMax = 4096
	// DevicePayloadMax is the largest payload that fits through Linux's
	// /dev/xen/xenbus, whose buffer holds header and payload together.
	DevicePayloadMax = PayloadMax - HeaderSize
	// AbsPathMax and RelPathMax are XENSTORE_ABS_PATH_MAX and
	// XENSTORE_REL_PATH_MAX.
	AbsPathMax = 3072
	RelPathMax = 2048
)

// Header is struct xsd_sockmsg: four uint32 fields in host byte order.
type Header struct {
	Type  MsgType
	ReqID uint32
	TxID  uint32
	Len   uint32
}

// Msg is one framed message.
type Msg struct {
	Header
	Payload []byte
}

// Decoding errors. Each is wrapped with the offending values.
var (
	ErrShortHeader    = errors.New("xenstore: short message header")
	ErrPayloadTooLong = errors.New("xenstore: payload length beyond XENSTORE_PAYLOAD_MAX")
	ErrUnknownType    = errors.New("xenstore: unknown message type")
	ErrMalformed      = errors.New("xenstore: malformed payload")
)

// byteOrder is the host byte order: xenstored writes struct xsd_sockmsg
// raw. Every platform Xen runs on (x86, Arm) is little-endian, which is why
// the test vectors in docs/xenstore.md are little-endian.
var byteOrder = binary.NativeEndian

// AppendHeader appends the 16 header bytes.
func AppendHeader(b []byte, h Header) []byte {
	b = byteOrder.AppendUint32(b, uint32(h.Type))
	b = byteOrder.AppendUint32(b, h.ReqID)
	b = byteOrder.AppendUint32(b, h.TxID)
	return byteOrder.AppendUint32(b, h.Len)
}

// ParseHeader decodes a header. It rejects lengths beyond PayloadMax so that
// a reader never allocates what a peer merely claims; it does not judge the
// type (a server answers unknown types with ENOSYS, a client drops them).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes", ErrShortHeader, len(b))
	}
	h := Header{
		Type:  MsgType(byteOrder.Uint32(b[0:])),
		ReqID: byteOrder.Uint32(b[4:]),
		TxID:  byteOrder.Uint32(b[8:]),
		Len:   byteOrder.Uint32(b[12:]),
	}
	if h.Len > PayloadMax {
		return h, fmt.Errorf("%w: %s req %d claims %d bytes", ErrPayloadTooLong, h.Type, h.ReqID, h.Len)
	}
	return h, nil
}

// Encode frames m, setting the header's Len from the payload.
func (m *Msg) Encode() ([]byte, error) {
	if len(m.Payload) > PayloadMax {
		return nil, fmt.Errorf("%w: %s of %d bytes", ErrPayloadTooLong, m.Type, len(m.Payload))
	}
	h := m.Header
	h.Len = uint32(len(m.Payload))
	b := make([]byte, 0, HeaderSize+len(m.Payload))
	b = AppendHeader(b, h)
	return append(b, m.Payload...), nil
}

// ReadMsg reads one message. The payload buffer is allocated only after the
// header passed ParseHeader, so its size is at most PayloadMax.
func ReadMsg(r io.Reader) (Msg, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Msg{}, fmt.Errorf("%w: connection closed mid-header", ErrShortHeader)
		}
		return Msg{}, err
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return Msg{Header: h}, err
	}
	m := Msg{Header: h, Payload: make([]byte, h.Len)}
	if _, err := io.ReadFull(r, m.Payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return m, fmt.Errorf("xenstore: reading %d-byte payload of %s: %w", h.Len, h.Type, err)
	}
	return m, nil
}

// DecodeMsg decodes one message from the front of b and returns the rest.
// It is ReadMsg for byte slices (test vectors, fuzzing).
func DecodeMsg(b []byte) (Msg, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Msg{Header: h}, b, err
	}
	if uint32(len(b)-HeaderSize) < h.Len {
		return Msg{Header: h}, b, fmt.Errorf("%w: %s payload has %d of %d bytes", ErrMalformed, h.Type, len(b)-HeaderSize, h.Len)
	}
	end := HeaderSize + int(h.Len)
	return Msg{Header: h, Payload: bytes.Clone(b[HeaderSize:end])}, b[end:], nil
}

// JoinStrings builds a payload of NUL-terminated strings: "a\x00b\x00".
func JoinStrings(s ...string) []byte {
	n := 0
	for _, x := range s {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for _, x := range s {
		b = append(b, x...)
		b = append(b, 0)
	}
	return b
}

// SplitStrings splits a payload of NUL-terminated strings. A payload whose
// last string lacks its NUL is malformed; an empty payload is no strings.
func SplitStrings(p []byte) ([]string, error) {
	if len(p) == 0 {
		return nil, nil
	}
	if p[len(p)-1] != 0 {
		return nil, fmt.Errorf("%w: string list not NUL-terminated", ErrMalformed)
	}
	var out []string
	for len(p) > 0 {
		i := bytes.IndexByte(p, 0)
		out = append(out, string(p[:i]))
		p = p[i+1:]
	}
	return out, nil
}

// CountStrings counts NUL-terminated strings as xenstored does (a trailing
// unterminated fragment does not count).
func CountStrings(p []byte) int { return bytes.Count(p, []byte{0}) }

// WatchEvent decodes a WATCH_EVENT payload "<path>\0<token>\0". Xen's
// kernel and daemons may append further strings; they are ignored.
func ParseWatchEvent(p []byte) (path, token string, err error) {
	s, err := SplitStrings(p)
	if err != nil {
		return "", "", err
	}
	if len(s) < 2 {
		return "", "", fmt.Errorf("%w: WATCH_EVENT with %d strings", ErrMalformed, len(s))
	}
	return s[0], s[1], nil
}

// TrimNUL removes one trailing NUL: replies such as "OK\0" and
// "/local/domain/3\0" carry one; READ replies carry none.
func TrimNUL(p []byte) []byte {
	if len(p) > 0 && p[len(p)-1] == 0 {
		return p[:len(p)-1]
	}
	return p
}
