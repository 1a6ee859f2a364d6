package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"regexp"
	"strings"
)

// Name shapes. Every role jit creates starts with "jit_", is at most 63
// bytes of [a-z0-9_], and records what it is for in its comment (marker).
const (
	userPrefix  = "jit_"
	groupPrefix = "jit_g_"
	queryPrefix = "jit_q_"
	// localMax bounds the part of a user name taken from the email, so that
	// the name stays readable and within 63 bytes.
	localMax = 24
	// levelMax bounds the part of a group name taken from the level name.
	levelMax = 24
	// userHashLen hex digits of SHA-256(request ID) make user names unique
	// per request (80 bits); a collision would moreover be caught by the
	// marker check, never taken over.
	userHashLen  = 20
	groupHashLen = 12
)

// userNamePattern is what every user name matches; a handle naming
// anything else is refused before it reaches SQL.
var userNamePattern = regexp.MustCompile(`^jit_[a-z0-9_]{1,59}$`)

// userName derives the ephemeral role of a request: "jit_", the sanitised
// local part of the requester's email (so that an administrator reading
// pg_stat_activity sees whose it is), and a hash of the request ID (so that
// it is unique per request, whatever the ID looks like).
func userName(requestID, email string) string {
	local := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	local = sanitize(local, localMax)
	sum := sha256.Sum256([]byte(requestID))
	h := hex.EncodeToString(sum[:])[:userHashLen]
	if local == "" {
		return userPrefix + h
	}
	return userPrefix + local + "_" + h
}

// groupName derives the group role holding a level's privileges. The hash
// covers the database, the resource and the level, because roles are
// global to a PostgreSQL cluster while levels belong to one resource.
func groupName(database, resource, levelName string) string {
	sum := sha256.Sum256([]byte(database + "\x00" + resource + "\x00" + levelName))
	name := groupPrefix + hex.EncodeToString(sum[:])[:groupHashLen]
	if l := sanitize(levelName, levelMax); l != "" {
		name += "_" + l
	}
	return name
}

// queryGroupName derives the group role that holds USAGE on the schemas of
// the query allowlist, for the users of query-scoped requests.
func queryGroupName(database, resource string) string {
	sum := sha256.Sum256([]byte(database + "\x00" + resource + "\x00query"))
	return queryPrefix + hex.EncodeToString(sum[:])[:groupHashLen]
}

// sanitize lower-cases s and keeps only [a-z0-9_]: common separators
// become "_", anything else is dropped, runs of "_" collapse, and the
// result is at most max bytes without a leading or trailing "_".
func sanitize(s string, max int) string {
	var b strings.Builder
	last := byte('_')
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_' || c == '.' || c == '-' || c == '+' || c == ' ':
			c = '_'
		default:
			continue
		}
		if c == '_' && last == '_' {
			continue
		}
		b.WriteByte(c)
		last = c
	}
	return strings.TrimRight(b.String(), "_")
}

// Advisory lock keys. PostgreSQL's advisory locks take one bigint; the
// high 32 bits say what is locked, the low 32 bits which one. Two names
// hashing alike only serialise their calls, which is harmless.
const (
	lockTagUser  = 0x6a697475 // "jitu"
	lockTagGroup = 0x6a697467 // "jitg"
	lockTagRel   = 0x6a697472 // "jitr": a table or sequence, by OID
	// aclLockKey guards the ACLs of tables as a whole: taken exclusively
	// while a group role's privileges are (re)granted on every table of a
	// schema, and shared by the per-table GRANTs and REVOKEs of
	// query-scoped users, which also lock each table they touch. Two
	// transactions updating one table's ACL at once fail with "tuple
	// concurrently updated" (XX000); these locks make them queue instead.
	aclLockKey int64 = 0x6a69745f61636c00 // "jit_acl\0"
)

func lockKey(tag uint32, low uint32) int64 { return int64(uint64(tag)<<32 | uint64(low)) }

func userLock(name string) int64  { return lockKey(lockTagUser, fnv32(name)) }
func groupLock(name string) int64 { return lockKey(lockTagGroup, fnv32(name)) }
func relLock(oid uint32) int64    { return lockKey(lockTagRel, oid) }

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// Marker kinds.
const (
	markUser  = "user"
	markGroup = "group"
)

// marker is the comment jit puts on every role it creates (COMMENT ON
// ROLE, kept in pg_shdescription). It proves that a role of a given name
// was created by jit for this request or level, so that a role made by
// someone else is never reused, altered or dropped, and it lets every role
// of a resource be found again.
type marker struct {
	JIT       string `json:"jit"`
	Database  string `json:"database"`
	Resource  string `json:"resource"`
	Access    string `json:"access,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	User      string `json:"user,omitempty"`
	Kind      string `json:"kind,omitempty"`
}

func (m marker) encode() string {
	b, _ := json.Marshal(m) // a struct of strings always encodes
	return string(b)
}

func parseMarker(comment *string) (marker, bool) {
	var m marker
	if comment == nil || json.Unmarshal([]byte(*comment), &m) != nil || m.JIT == "" {
		return marker{}, false
	}
	return m, true
}
