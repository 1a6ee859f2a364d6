-- What a request names beyond its resource and access level: its target
-- (a Kubernetes object), the SSH key it certifies, and what the provider's
-- check found about the requester's eligibility. One JSON object in its
-- canonical text form (store/internal/subject), fixed at submit like the
-- query: an approval is bound to it, so updates compare the text exactly.
-- A constant default, so adding the column rewrites no rows.
ALTER TABLE requests ADD COLUMN subject text NOT NULL DEFAULT '{}';
