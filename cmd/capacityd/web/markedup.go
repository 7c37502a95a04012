package web

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// markedUpFiles keep the marked-up copies of rejected bulk uploads (the
// bad cells red and commented) for the person who uploaded them to
// download from the page of errors. They are the person's own file
// back, not a record: kept in this process's memory for an hour, within a
// bound, never in the log. A link that outlived its file (a restart,
// another server behind the balancer, the bound) is the 404 page, and
// uploading the file again gives a new one.
type markedUpFiles struct {
	mu    sync.Mutex
	files map[string]markedUpFile
	order []string // ids, oldest first
	bytes int
	now   func() time.Time
}

type markedUpFile struct {
	owner   string
	name    string
	data    []byte
	expires time.Time
}

const (
	// markedUpFor is how long a marked-up copy can be downloaded.
	markedUpFor = time.Hour
	// markedUpMaxBytes bounds the copies kept, in all: the oldest go
	// first.
	markedUpMaxBytes = 64 << 20
)

func newMarkedUpFiles(now func() time.Time) *markedUpFiles {
	return &markedUpFiles{files: map[string]markedUpFile{}, now: now}
}

// put keeps a copy for its owner and returns its id, or "" when it is
// larger than the bound.
func (m *markedUpFiles) put(owner, name string, data []byte) string {
	if len(data) > markedUpMaxBytes {
		return ""
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for len(m.order) > 0 {
		f, ok := m.files[m.order[0]]
		if ok && now.Before(f.expires) && m.bytes+len(data) <= markedUpMaxBytes {
			break
		}
		m.dropOldest()
	}
	m.files[id] = markedUpFile{owner: owner, name: name, data: data, expires: now.Add(markedUpFor)}
	m.order = append(m.order, id)
	m.bytes += len(data)
	return id
}

func (m *markedUpFiles) dropOldest() {
	id := m.order[0]
	m.bytes -= len(m.files[id].data)
	delete(m.files, id)
	m.order = m.order[1:]
}

// get is the owner's copy of an id, while it is kept.
func (m *markedUpFiles) get(owner, id string) (markedUpFile, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[id]
	if !ok || f.owner != owner || !m.now().Before(f.expires) {
		return markedUpFile{}, false
	}
	return f, true
}
