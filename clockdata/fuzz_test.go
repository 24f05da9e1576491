package clockdata

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodePage: no input panics, and whatever decodes re-encodes to the
// same bytes (every byte of a version 1 record is meaningful or must be
// zero).
func FuzzDecodePage(f *testing.F) {
	for _, v := range vectors(f) {
		if v.page != nil {
			f.Add(v.page[:min(len(v.page), RecordSize+8)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, flags, seq, err := DecodePageFlags(b)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid record: %v", err)
		}
		// A page whose size field ends before the flags word ignores it.
		n := int(binary.LittleEndian.Uint32(b[OffSize:]))
		n = min(n-n%8, RecordSize)
		enc := EncodePageFlags(&r, flags, seq)
		binary.LittleEndian.PutUint32(enc[OffSize:], binary.LittleEndian.Uint32(b[OffSize:]))
		if !bytes.Equal(enc[:n], b[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc[:n], b[:n])
		}
	})
}

// FuzzParseText: no input panics; what parses re-encodes and parses to the
// same record.
func FuzzParseText(f *testing.F) {
	for _, v := range vectors(f) {
		if v.page == nil {
			f.Add(v.text)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseText(s)
		if err != nil {
			return
		}
		line, _ := r.MarshalText()
		r2, err := ParseText(string(line))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
		}
	})
}

// FuzzUnmarshalJSON: no input panics; what decodes round-trips.
func FuzzUnmarshalJSON(f *testing.F) {
	r := testRecord(f)
	js, _ := json.Marshal(r)
	f.Add(js)
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		js, _ := json.Marshal(r)
		var r2 Record
		if err := json.Unmarshal(js, &r2); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
