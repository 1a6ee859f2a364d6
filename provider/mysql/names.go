package mysql

import (
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"strings"
)

// Account names. MariaDB allows 80 characters in a user name and MySQL 8
// allows 32; the smaller limit is used for both so that a name is valid
// whichever server a resource points at.
const (
	maxUserLen = 32
	userPrefix = "jit_"
	// hashLen characters of lower-case base32 (80 bits) of the request ID
	// make the name unique per request; the local part of the email before
	// it is only there for people reading SHOW PROCESSLIST.
	hashLen = 16
	// maxLocalLen is what is left of 32 for the local part:
	// "jit_" + local + "_" + hash.
	maxLocalLen = maxUserLen - len(userPrefix) - 1 - hashLen
	// eventPrefix names the expiry event of an account in guard_database.
	eventPrefix = "expire_"
)

// userNameRE matches every name userName can produce; a handle read back
// from the store must name such an account, so that a corrupted or forged
// handle cannot make Revoke drop some other account.
var userNameRE = regexp.MustCompile(`^jit_[a-z0-9_]{1,28}$`)

var hashEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// userName derives the account name of a request: "jit_", the requester's
// email local part reduced to [a-z0-9_] and cut to 11 characters, "_", and
// 16 characters of a hash of the request ID. It depends on nothing else, so
// Revoke and Verify find the account without a handle, and nothing of the
// request reaches SQL except through this reduction.
func userName(requestID, email string) string {
	sum := sha256.Sum256([]byte(requestID))
	hash := strings.ToLower(hashEncoding.EncodeToString(sum[:]))[:hashLen]
	local := sanitizeLocal(email)
	if local == "" {
		return userPrefix + hash
	}
	return userPrefix + local + "_" + hash
}

// sanitizeLocal reduces the local part of an email (everything before the
// last @) to lower-case ASCII letters, digits and single underscores, at
// most maxLocalLen characters, without leading or trailing underscores.
func sanitizeLocal(email string) string {
	local := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	var b strings.Builder
	underscore := false
	for _, r := range strings.ToLower(local) {
		if b.Len() >= maxLocalLen {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			underscore = false
			continue
		}
		// Anything else (dots, plus signs, quotes, non-ASCII letters)
		// becomes one underscore.
		if !underscore && b.Len() > 0 {
			b.WriteByte('_')
			underscore = true
		}
	}
	return strings.TrimRight(b.String(), "_")
}

// eventName is the name of the account's expiry event in guard_database.
func eventName(user string) string { return eventPrefix + user }
