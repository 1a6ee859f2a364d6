// Package sshca is the provider for SSH access through short-lived OpenSSH
// user certificates (type "ssh"). For every approved request it signs the
// requester's own SSH public key with the resource's CA key; the
// certificate names the principals of the access level and expires with
// the grant. Hosts trust the CA (sshd's TrustedUserCAKeys), map principals
// to accounts (AuthorizedPrincipalsFile) and read the revocation list jit
// publishes (RevokedKeys). See docs/ssh.md for the host set-up.
//
// # Settings
//
//	provider: ssh
//	settings:
//	  ca_key_file: /etc/jit/ssh_ca     # required; read at first use, mode 0600 or stricter
//	  hosts: ["web-*", "web-*.prod.example.com"]   # required: the hosts that trust the CA
//	  principals:                      # required: every access level, at least one each
//	    deploy: [deploy]
//	    admin: [root]
//	  source_address: [10.0.0.0/8]     # optional: addresses or CIDR prefixes logins may come from
//	  force_command: /usr/local/bin/x  # optional: the only command the certificate may run
//	  extensions: [permit-pty]         # default [permit-pty]; also permit-X11-forwarding,
//	                                   #   permit-agent-forwarding, permit-port-forwarding, permit-user-rc
//	  clock_skew: 1m                   # default 1m: certificates are valid from now minus this
//	  max_validity: 12h                # default 12h: the longest certificate, and request, allowed
//	  key_types: [ssh-ed25519, ...]    # default: every type in KeyTypes
//	  rsa_min_bits: 3072               # default 3072, from 2048 to 16384
//
// Host patterns use '*' (any run of characters, dots included) and '?' (one
// character), as ssh_config's Host does, without negation; MatchHost lets a
// client find the resource for the host it connects to. Principals may
// contain letters, digits, '_', and after the first character '.', '-' and
// '@'. New reads no file, so that configuration can be checked where the CA
// key is not.
//
// # Certificates
//
// The CA key is an unencrypted OpenSSH private key (Ed25519 by default;
// ECDSA and RSA of at least 3072 bits are accepted) that InitCA creates and
// LoadCA reads, refusing a file that group or others may read. RSA CA keys
// sign with rsa-sha2-512.
//
// A certificate has key ID "jit:<user>:<request ID>", which sshd logs at
// every login, the principals of the access level, validity from the
// provider's clock minus clock_skew until the grant's expiry (rounded down
// to the second), the critical options source-address and force-command
// when set, and the extensions of the settings. Its serial number is
// derived from the request ID and the CA key: never 0, the same for every
// grant of one request, so granting again (after a lost response) issues a
// certificate that one KRL entry revokes together with the first.
//
// The requester's key must be a single public key in authorized_keys form,
// without options, of an allowed type; certificates, DSA keys, RSA keys
// under rsa_min_bits and private keys pasted by mistake are refused with a
// reason that never repeats the input. Check refuses such requests at
// submit, as well as access levels without principals, a target (a
// certificate is valid on every host of the resource) and durations over
// max_validity.
//
// # Expiry and revocation
//
// Hosts enforce the certificate's expiry by themselves: access ends at the
// grant's expiry even when jitd is down. A certificate cannot be recalled
// from the hosts, so Revoke changes nothing and succeeds; a grant that ends
// early (relinquished, revoked) is cut off by the key revocation list
// (KRL): jitd takes every request of the resource that ended before its
// certificate expired, turns its handle into a Revoked entry with
// RevokedFromHandle, and encodes the list with Provider.KRL (or BuildKRL),
// which hosts fetch into their RevokedKeys file. sshd reads that file at
// every authentication. Certificates leave the list once they have expired
// (plus clock_skew, for hosts whose clocks lag), so it stays short.
//
// The handle carries the CA's public key, and the KRL has one section per
// CA key: after ca_key_file is replaced, hosts keep trusting the old key
// until its certificates have expired, and the revoked ones among them
// stay on the list under the old key.
//
// Verify reads the handle only: it reports the certificate present until
// its expiry and cannot see the KRL, so a certificate revoked early is
// still reported present although hosts with the current KRL refuse it.
// Live sessions opened before a revocation are not ended; sshd checks
// certificates at login only.
//
// # Errors
//
// Grant changes nothing outside the provider, so every Grant error is
// wrapped with provider.NotApplied: the request is refused (see above), the
// CA key cannot be read, or signing failed. Revoke fails only for a
// cancelled context or a handle that is not one of this provider's (its
// certificate could not be put on a KRL). Errors never contain key
// material.
package sshca
