-- archive.sql - the reference archive of closed orders (docs/operations.md,
-- "The archive (order.closed -> PostgreSQL)"). One row per order, written
-- once by rx-archive from order.closed (INSERT ... ON CONFLICT DO NOTHING).
-- Applied by the operator with an owner role, not by rx-archive, whose role
-- needs only INSERT, and SELECT on order_id (ON CONFLICT (order_id) infers
-- the key from it); it cannot read the records back:
--   psql "$ARCHIVE_OWNER_URL" -v ON_ERROR_STOP=1 -f deploy/postgres/archive.sql
-- Idempotent: every statement is IF NOT EXISTS.
--
-- PERSONAL DATA: patient_ref, delivery_address, delivery_lat/lon and items
-- (drug names) identify a patient's treatment. Their retention is the
-- operator's: schedule the DELETE by closed_at of docs/operations.md.

CREATE TABLE IF NOT EXISTS orders_closed (
    order_id               text PRIMARY KEY,
    prescription_id        text NOT NULL,
    state                  text NOT NULL,          -- DELIVERED, CANCELLED, ...
    reason                 text NOT NULL DEFAULT '',
    closed_at              timestamptz NOT NULL,
    created_at             timestamptz,
    approved_at            timestamptz,
    expires_at             timestamptz,
    hospital_id            text NOT NULL DEFAULT '',
    nominated_pharmacy_id  text NOT NULL DEFAULT '',
    pharmacy_id            text NOT NULL DEFAULT '',  -- the last pharmacy that held it
    courier_id             text NOT NULL DEFAULT '',  -- the last courier that held it
    fulfilment             text NOT NULL,
    priority               text NOT NULL,
    cold_chain             boolean NOT NULL,
    insurance_covered      boolean NOT NULL,
    attempts               integer NOT NULL,
    distance_m             integer NOT NULL,
    courier_distance_m     integer NOT NULL,
    last_seq               bigint NOT NULL,
    pickup_proof           text NOT NULL DEFAULT '',
    handover_code_verified boolean NOT NULL,
    wrong_codes            integer NOT NULL,
    -- personal data
    patient_ref            text NOT NULL,
    delivery_address       text NOT NULL,
    delivery_lat           double precision,
    delivery_lon           double precision,
    items                  jsonb NOT NULL,          -- [{drug_code,name,quantity,cold_chain}]
    -- history
    state_times            jsonb NOT NULL,          -- {"ROUTING": ms, ...}
    timeline               jsonb NOT NULL,          -- [{seq,at_ms,state,kind,...}]
    pharmacies_tried       jsonb NOT NULL,          -- ["ph-1", ...]
    archived_at            timestamptz NOT NULL DEFAULT now()
);

-- the retention DELETE and reports by period
CREATE INDEX IF NOT EXISTS orders_closed_closed_at ON orders_closed (closed_at);
CREATE INDEX IF NOT EXISTS orders_closed_prescription ON orders_closed (prescription_id);
