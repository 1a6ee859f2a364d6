package jit

import "strings"

// Validate reports the first malformed part of c as an ECodeInvalid
// *Error. Stores call it before writing anything, so that every store
// refuses the same changes.
func (c *Change) Validate() error {
	if c == nil {
		return Errorf(ECodeInvalid, "change is nil")
	}
	if r := c.Request; r != nil {
		switch {
		case r.ID == "":
			return FieldErrorf("id", ECodeInvalid, "request has no ID")
		case r.Requester == "":
			return FieldErrorf("requester", ECodeInvalid, "request %s has no requester", r.ID)
		case r.Resource == "":
			return FieldErrorf("resource", ECodeInvalid, "request %s has no resource", r.ID)
		case !r.Status.Valid():
			return FieldErrorf("status", ECodeInvalid, "request %s has unknown status %q", r.ID, r.Status)
		case r.EndStatus != "" && !r.EndStatus.Valid():
			return FieldErrorf("end_status", ECodeInvalid, "request %s has unknown end status %q", r.ID, r.EndStatus)
		case r.CreatedAt.IsZero():
			return FieldErrorf("created_at", ECodeInvalid, "request %s has no creation time", r.ID)
		case r.Version < 0:
			return FieldErrorf("version", ECodeInvalid, "request %s has negative version %d", r.ID, r.Version)
		}
	}
	if a := c.Approval; a != nil {
		switch {
		case a.RequestID == "":
			return FieldErrorf("request_id", ECodeInvalid, "approval has no request ID")
		case a.Approver == "":
			return FieldErrorf("approver", ECodeInvalid, "approval of %s has no approver", a.RequestID)
		case a.At.IsZero():
			return FieldErrorf("at", ECodeInvalid, "approval of %s has no time", a.RequestID)
		}
	}
	for i, ev := range c.Events {
		switch {
		case ev.Action == "":
			return Errorf(ECodeInvalid, "audit event %d has no action", i)
		case ev.Actor == "":
			return Errorf(ECodeInvalid, "audit event %d (%s) has no actor", i, ev.Action)
		case ev.Time.IsZero():
			return Errorf(ECodeInvalid, "audit event %d (%s) has no time", i, ev.Action)
		}
	}
	for i, j := range c.Enqueue {
		switch {
		case j.Key == "":
			return Errorf(ECodeInvalid, "job %d has no key", i)
		case j.Kind == "":
			return Errorf(ECodeInvalid, "job %s has no kind", j.Key)
		case j.RunAt.IsZero():
			return Errorf(ECodeInvalid, "job %s has no run time", j.Key)
		case j.Attempt < 0:
			return Errorf(ECodeInvalid, "job %s has negative attempt %d", j.Key, j.Attempt)
		}
	}
	for i, key := range c.DeleteJobs {
		if key == "" {
			return Errorf(ECodeInvalid, "job key %d to delete is empty", i)
		}
	}
	if t := c.Token; t != nil {
		switch {
		case t.ID == "":
			return FieldErrorf("id", ECodeInvalid, "token has no ID")
		case t.Email == "":
			return FieldErrorf("email", ECodeInvalid, "token %s has no email", t.ID)
		case !isSHA256Hex(t.Hash):
			// Refuse anything but a digest, so that a plain token can
			// never be stored by mistake.
			return FieldErrorf("hash", ECodeInvalid, "token %s: hash must be a lowercase hex SHA-256 digest", t.ID)
		}
	}
	if k := c.PublicKey; k != nil {
		switch {
		case k.Email == "":
			return FieldErrorf("email", ECodeInvalid, "public key has no email")
		case k.Key == "":
			return FieldErrorf("public_key", ECodeInvalid, "public key of %s is empty", k.Email)
		case k.CreatedAt.IsZero():
			return FieldErrorf("created_at", ECodeInvalid, "public key of %s has no creation time", k.Email)
		}
	}
	if e := c.Credential; e != nil {
		switch {
		case e.RequestID == "":
			return FieldErrorf("request_id", ECodeInvalid, "credential has no request ID")
		case e.Recipient == "" || e.Envelope == "":
			return FieldErrorf("envelope", ECodeInvalid, "credential of %s has no recipient or envelope", e.RequestID)
		case !strings.HasPrefix(e.Envelope, "-----BEGIN AGE ENCRYPTED FILE-----"):
			// Refuse anything but an armored age file, so that a plain
			// secret can never be stored by mistake.
			return FieldErrorf("envelope", ECodeInvalid, "credential of %s is not an encrypted envelope", e.RequestID)
		case e.CreatedAt.IsZero():
			return FieldErrorf("created_at", ECodeInvalid, "credential of %s has no creation time", e.RequestID)
		}
	}
	return nil
}

func isSHA256Hex(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
