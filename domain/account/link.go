package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/google/uuid"
)

// A password link's token is the user id, the link id and an HMAC of both
// under a server key, base64url-encoded. Nothing secret is stored: the
// server recomputes the MAC to check a token, and the mail outbox recomputes
// the token to send it, so a resent email carries the same link. Whether a
// link is used or expired is in the user's events.

const linkMACSize = 32

func linkMAC(key []byte, userID, linkID uuid.UUID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("capacity-tracker password link v1\x00"))
	m.Write(userID[:])
	m.Write(linkID[:])
	return m.Sum(nil)
}

// LinkToken is the token of a password link.
func LinkToken(key []byte, userID, linkID uuid.UUID) string {
	b := make([]byte, 0, 32+linkMACSize)
	b = append(b, userID[:]...)
	b = append(b, linkID[:]...)
	b = append(b, linkMAC(key, userID, linkID)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseLinkToken checks a token's MAC and returns its ids.
func ParseLinkToken(key []byte, token string) (userID, linkID uuid.UUID, ok bool) {
	if len(token) > 200 {
		return uuid.Nil, uuid.Nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32+linkMACSize {
		return uuid.Nil, uuid.Nil, false
	}
	copy(userID[:], b[:16])
	copy(linkID[:], b[16:32])
	if !hmac.Equal(b[32:], linkMAC(key, userID, linkID)) {
		return uuid.Nil, uuid.Nil, false
	}
	return userID, linkID, true
}
