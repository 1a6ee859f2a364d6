// Package aws holds the providers for Amazon Web Services: "aws-sso"
// grants IAM Identity Center permission sets on an AWS account, and
// "aws-iam" grants an inline policy, with its expiry written into the
// policy's own conditions, on an IAM user or role.
//
// # aws-sso
//
//	provider: aws-sso
//	settings:
//	  region: eu-west-1                        # Identity Center's home region
//	  instance_arn: arn:aws:sso:::instance/ssoins-0123456789abcdef
//	  identity_store_id: d-1234567890
//	  account_id: "111122223333"
//	  permission_sets:                         # one per access level
//	    read: arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef
//	  principal: group                         # group (default) or user
//	  user_attribute: userName                 # userName (default) or emails.value
//	  endpoint: https://...                    # optional, both APIs
//	  identity_store_endpoint: https://...     # optional, identity store only
//	  profile: jit                             # optional shared credentials profile
//	  timeout: 5m                              # bound of one grant or revoke
//
// With principal group, each grant creates an identity store group named
// GroupName(request ID), adds the requester to it and assigns the group
// the permission set on the account; revoke deletes the assignment and
// the group. Overlapping grants of one person are then independent, and
// a standing assignment made by people is never touched. With principal
// user, the requester's own user is assigned: AWS keeps one assignment
// per user and permission set, so two grants of it (or a grant and a
// standing assignment) are one assignment and the first revoke removes
// it. Check refuses a request in that mode when the user already holds
// the assignment, which narrows but does not close that window.
//
// Identity Center has no expiry of its own: jit's scheduler revokes at
// expiry, the reconciler revokes what outlived its grant, and Sweep
// (group mode) revokes groups whose recorded expiry has passed.
//
// # aws-iam
//
//	provider: aws-iam
//	settings:
//	  principal_type: role                     # user or role
//	  principal_name: break-glass              # or a template: "{local}", "{email}"
//	  email_domain: example.com                # required with {local}
//	  policies:                                # one per access level
//	    read: '{"Version":"2012-10-17","Statement":[...]}'
//	  allow_actions: ["iam:PassRole"]          # sensitive actions allowed anyway
//	  path_prefix: /people/                    # listing of templated principals
//	  region: us-east-1                        # signing region (default us-east-1)
//	  endpoint: https://...                    # optional
//	  profile: jit                             # optional
//
// Each grant puts an inline policy named PolicyName(request ID) on the
// principal, every statement of which carries a DateLessThan condition
// on aws:CurrentTime at the grant's expiry, so AWS stops honouring it
// then even when jitd is down. Its Id is jit's Marker of the request:
// List and Sweep take for jit's only the policies so named and so marked,
// and leave any other policy named jit-... alone. Revoke deletes it;
// Sweep deletes the expired ones left behind. Policies are checked at
// load (see ParsePolicy and Policy.Check): wildcards over every service,
// NotAction, write or wildcard actions of IAM, STS, Organizations and
// Identity Center, and the STS calls that issue sessions (sts:AssumeRole
// and its SAML and web identity forms, sts:GetFederationToken), which
// outlive the grant, are refused unless allow_actions lists them.
//
// Every listing follows page tokens with StopOnDuplicateToken and fails
// when the API answers a token it answered before, rather than asking
// for the same pages for ever or ending silently short.
//
// # Credentials
//
// Both types build their AWS configuration by hand: the region and
// endpoint come from the settings, the credentials from the first of
// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN), the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials; profile from the
// profile setting, AWS_PROFILE or "default"; static keys only) and the
// container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or
// _RELATIVE_URI, as on ECS and EKS Pod Identity). A profile setting uses
// that profile of the file only.
package aws
