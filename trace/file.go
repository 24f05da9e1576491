package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// FileWriter records stamps to a file, as `dom0d run --record` does.
type FileWriter struct {
	*Writer
	f *os.File
	// Dropped is the number of bytes of a cut-off last line that
	// CreateOrAppend removed from an existing file (a recorder killed in the
	// middle of a write); 0 normally.
	Dropped int64
}

// CreateOrAppend opens path for recording stamps in the project's format.
// A new or empty file gets h's header. An existing trace is appended to, so
// a restarted recorder continues its file: a cut-off last line left by a
// crash is removed first (so the file stays readable to the end), and the
// header is written again, which Reader takes as comments as long as the
// counter and its frequency are the same; when they are not, appending is
// refused, because ticks from two counters cannot share a trace.
func CreateOrAppend(path string, h Header) (*FileWriter, error) {
	if h.Format != FormatXenradclock {
		return nil, fmt.Errorf("recording %s: only the xenradclock format is recorded", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fw := &FileWriter{f: f}
	if err := fw.prepare(h); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	w, err := NewWriter(f, h)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	fw.Writer = w
	return fw, nil
}

// prepare checks an existing file and leaves the offset at its end, after
// dropping a partial last line.
func (fw *FileWriter) prepare(h Header) error {
	size, err := fw.f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return err
	}
	old, err := NewReader(io.NewSectionReader(fw.f, 0, size)).Header()
	if err != nil {
		return fmt.Errorf("the existing file's header is malformed: %w", err)
	}
	if old.Format != FormatXenradclock {
		return fmt.Errorf("the existing file is a %v trace, not the xenradclock format", old.Format)
	}
	if old.CounterHz != h.CounterHz || old.Counter != h.Counter {
		return fmt.Errorf("the existing trace is of counter %q at %v Hz, not %q at %v Hz: record to another file",
			old.Counter, old.CounterHz, h.Counter, h.CounterHz)
	}
	if old.SideColumns != h.SideColumns || !h.SideColumns && old.Server != h.Server {
		// Header lines after data are comments: the old ones would stay in force.
		return fmt.Errorf("the existing trace has other columns or another server header: record to another file")
	}
	// Find the end of the last complete line.
	var buf [MaxLineBytes]byte
	end := size
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := fw.f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
		if size-end > MaxLineBytes {
			return errors.New("the existing file does not end in lines")
		}
	}
	if end < size {
		if err := fw.f.Truncate(end); err != nil {
			return err
		}
		fw.Dropped = size - end
	}
	_, err = fw.f.Seek(end, io.SeekStart)
	return err
}

// Sync commits what was written to stable storage.
func (fw *FileWriter) Sync() error { return fw.f.Sync() }

// Close syncs and closes the file.
func (fw *FileWriter) Close() error {
	return errors.Join(fw.f.Sync(), fw.f.Close())
}
