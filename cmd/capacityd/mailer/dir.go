package mailer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DirSender writes each message to Dir as <timestamp>-<ID>.eml, a file a
// person can open in a mail client. It is the embedded default for
// deployments without an SMTP relay, and for development.
//
// The timestamp is the message's Date in UTC (20060102T150405Z), so files
// sort by date, and the ID is escaped so that it cannot leave Dir. Writing a
// message with the same ID and Date again replaces the same file, which makes
// a resend after a crash harmless. Each file is written to a temporary file
// in Dir and renamed into place, so a reader never sees a partial message.
type DirSender struct {
	Dir string
}

// dirFileMode lets the service's group (an operator, a mail viewer) read the
// messages, which can contain personal data, and nobody else.
const dirFileMode = 0o640

// Send writes m to d.Dir, creating the directory if needed.
func (d DirSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write message %q: %w", m.ID, err)
	}
	if d.Dir == "" {
		return errors.New("write message: DirSender.Dir is empty")
	}
	data, err := m.Bytes()
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("write message %q: %w", m.ID, err)}
	}
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return fmt.Errorf("write message %q: %w", m.ID, err)
	}
	name := filepath.Join(d.Dir, emlFileName(m))
	if err := writeFileAtomic(name, data, dirFileMode); err != nil {
		return fmt.Errorf("write message %q: %w", m.ID, err)
	}
	return nil
}

// emlFileName names m's file. The ID escape is reversible (every byte other
// than a letter, digit, '.' or '-' becomes _XX in hex, '_' included), so two
// IDs never share a file, and it removes path separators. A dot-atom ID of
// at most 64 bytes keeps the name within 255 bytes.
func emlFileName(m Message) string {
	const hex = "0123456789abcdef"
	id := make([]byte, 0, len(m.ID))
	for i := 0; i < len(m.ID); i++ {
		c := m.ID[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-':
			id = append(id, c)
		default:
			id = append(id, '_', hex[c>>4], hex[c&0xf])
		}
	}
	return m.Date.UTC().Format("20060102T150405Z") + "-" + string(id) + ".eml"
}

// writeFileAtomic writes data to a temporary file next to name, syncs it and
// renames it over name, then syncs the directory so the rename survives a
// crash: the outbox records the message as sent once Send returns.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(name)
	// The temporary name does not end in .eml, so nothing that watches for
	// messages picks up a half-written one.
	f, err := os.CreateTemp(dir, ".mail-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
