-- What a request names beyond its resource and access level: its target
-- (a Kubernetes object), the SSH key it certifies, and what the provider's
-- check found about the requester's eligibility. One JSON object
-- (store/internal/subject), fixed at submit like the query: an approval is
-- bound to it. Requests stored before this migration named none of these.
ALTER TABLE requests ADD COLUMN subject TEXT NOT NULL DEFAULT '{}';
