-- Ending access ends its extensions (requests whose extends_id names it).
-- Few requests are extensions, so a partial index finds them without
-- costing a write for every other request.
CREATE INDEX requests_extends ON requests (extends_id, created_at, id) WHERE extends_id != '';
