package eventstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Personal data is encrypted field by field with AES-256-GCM under a key per
// data subject. The encrypted value replaces the field in the stored JSON as
//
//	{"$pii": {"s": "<subject>", "k": "<key id>", "c": "<base64 nonce||ciphertext>"}}
//
// The key id (a truncated SHA-256 of the key) tells which key sealed the
// value: a subject who is forgotten and later comes back gets a new key, and
// the values sealed with the old one must read as erased, not fail to open.
// The additional data binds the ciphertext to its event id and path, so a
// sealed value cannot be moved to another event or field. Keys live in the
// backend's subject_keys table, never in the log; deleting a key turns every
// field sealed with it into JSON null (crypto-shredding).

const piiMarker = "$pii"

// SubjectKeySize is the size of a data subject's AES-256 key.
const SubjectKeySize = 32

// NewSubjectKey returns a fresh random key.
func NewSubjectKey() ([]byte, error) {
	k := make([]byte, SubjectKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate subject key: %w", err)
	}
	return k, nil
}

type sealedValue struct {
	Subject string `json:"s"`
	KeyID   string `json:"k,omitempty"`
	Cipher  string `json:"c"`
}

// keyID names a key without revealing it.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func aad(eventID uuid.UUID, path string) []byte {
	return []byte(eventID.String() + "|" + path)
}

// SealPersonal encrypts the marked fields of data. keyFor returns the key of a
// subject, creating it if need be. It returns the sealed JSON and the sorted,
// distinct subjects it used. A marked path that is absent from data is left
// alone (there is nothing personal to protect).
func SealPersonal(eventID uuid.UUID, data json.RawMessage, fields []PersonalField, keyFor func(subject string) ([]byte, error)) (json.RawMessage, []string, error) {
	if len(fields) == 0 {
		return data, nil, nil
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: data is not valid JSON: %v", ErrInvalidEvent, err)
	}
	subjects := map[string]struct{}{}
	for _, f := range fields {
		parts := strings.Split(f.Path, ".")
		parent, ok := doc.(map[string]any)
		for _, p := range parts[:len(parts)-1] {
			if !ok {
				break
			}
			parent, ok = parent[p].(map[string]any)
		}
		if !ok {
			continue
		}
		last := parts[len(parts)-1]
		val, present := parent[last]
		if !present || val == nil {
			continue
		}
		plain, err := json.Marshal(val)
		if err != nil {
			return nil, nil, fmt.Errorf("marshal personal field %s: %w", f.Path, err)
		}
		key, err := keyFor(f.Subject)
		if err != nil {
			return nil, nil, fmt.Errorf("key of subject %s: %w", f.Subject, err)
		}
		gcm, err := newGCM(key)
		if err != nil {
			return nil, nil, err
		}
		nonce := make([]byte, gcm.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, nil, fmt.Errorf("nonce: %w", err)
		}
		ct := gcm.Seal(nonce, nonce, plain, aad(eventID, f.Path))
		parent[last] = map[string]any{piiMarker: sealedValue{Subject: f.Subject, KeyID: keyID(key), Cipher: base64.StdEncoding.EncodeToString(ct)}}
		subjects[f.Subject] = struct{}{}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal sealed data: %w", err)
	}
	list := make([]string, 0, len(subjects))
	for s := range subjects {
		list = append(list, s)
	}
	sort.Strings(list)
	return out, list, nil
}

// OpenPersonal decrypts every sealed field of data with keys (subject -> key).
// A field whose subject has no key reads as null and its path is returned in
// erased.
func OpenPersonal(eventID uuid.UUID, data json.RawMessage, keys map[string][]byte) (json.RawMessage, []string, error) {
	if !bytes.Contains(data, []byte(piiMarker)) {
		return data, nil, nil
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("decode stored event %s: %w", eventID, err)
	}
	var erased []string
	var walk func(v any, path string) (any, error)
	walk = func(v any, path string) (any, error) {
		obj, ok := v.(map[string]any)
		if !ok {
			return v, nil
		}
		if raw, sealed := obj[piiMarker]; sealed && len(obj) == 1 {
			sv, ok := raw.(map[string]any)
			if !ok {
				return v, nil
			}
			subject, _ := sv["s"].(string)
			cipherText, _ := sv["c"].(string)
			key, have := keys[subject]
			if kid, _ := sv["k"].(string); have && kid != "" && kid != keyID(key) {
				have = false // sealed with an earlier key of the subject, since deleted
			}
			if !have {
				erased = append(erased, path)
				return nil, nil
			}
			ct, err := base64.StdEncoding.DecodeString(cipherText)
			if err != nil {
				return nil, fmt.Errorf("personal field %s of event %s: %w", path, eventID, err)
			}
			gcm, err := newGCM(key)
			if err != nil {
				return nil, err
			}
			if len(ct) < gcm.NonceSize() {
				return nil, fmt.Errorf("personal field %s of event %s: ciphertext too short", path, eventID)
			}
			plain, err := gcm.Open(nil, ct[:gcm.NonceSize()], ct[gcm.NonceSize():], aad(eventID, path))
			if err != nil {
				return nil, fmt.Errorf("personal field %s of event %s: %w", path, eventID, err)
			}
			return decodeJSON(plain)
		}
		for k, child := range obj {
			p := k
			if path != "" {
				p = path + "." + k
			}
			nv, err := walk(child, p)
			if err != nil {
				return nil, err
			}
			obj[k] = nv
		}
		return obj, nil
	}
	doc, err = walk(doc, "")
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(erased)
	return out, erased, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	return cipher.NewGCM(block)
}

// usesReservedKey reports whether data has an object with the key the store
// uses for sealed values: such data would read back as a forged sealed field.
func usesReservedKey(data []byte) bool {
	if !bytes.Contains(data, []byte(`"`+piiMarker+`"`)) {
		return false
	}
	doc, err := decodeJSON(data)
	if err != nil {
		return false
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x[piiMarker]; ok {
				return true
			}
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		case []any:
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(doc)
}

// OpenStored decrypts the sealed fields of an event read from a backend, in
// place. keysJSON is the JSON object subject -> hex-encoded key that the
// backends' read queries select next to each row (NULL, so nil, when the
// event names no subject or every key is gone).
func OpenStored(ev *Event, keysJSON []byte) error {
	if keysJSON == nil && !bytes.Contains(ev.Data, []byte(piiMarker)) {
		return nil
	}
	keys := map[string][]byte{}
	if keysJSON != nil {
		var enc map[string]string
		if err := json.Unmarshal(keysJSON, &enc); err != nil {
			return fmt.Errorf("event %d keys: %w", ev.Position, err)
		}
		for subject, k := range enc {
			b, err := hex.DecodeString(k)
			if err != nil {
				return fmt.Errorf("event %d key of %s: %w", ev.Position, subject, err)
			}
			keys[subject] = b
		}
	}
	opened, erased, err := OpenPersonal(ev.ID, ev.Data, keys)
	if err != nil {
		return err
	}
	ev.Data, ev.Erased = opened, erased
	return nil
}
