-- The event log: events and metrics hypertables, the log head, the hash chain,
-- idempotency keys, dead letters, tenants and API tokens.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE tenants (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    role        text NOT NULL CHECK (role IN ('admin', 'analyst', 'ingest', 'viewer')),
    token_hash  bytea NOT NULL UNIQUE,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Partitioned on recorded_at (ingest time, non-decreasing with position) so that a late or
-- back-filled event never lands in a chunk that was already tiered.
CREATE TABLE events (
    position          bigint      NOT NULL,
    recorded_at       timestamptz NOT NULL,
    tenant_id         text        NOT NULL,
    event_time        timestamptz,
    kind              text        NOT NULL CHECK (kind IN ('log', 'alert', 'metric', 'threat_intel', 'network_traffic', 'action')),
    source            text        NOT NULL,
    event_id          text,
    severity          smallint    CHECK (severity BETWEEN 0 AND 10),
    host_name         text,
    source_ip         inet,
    source_port       integer,
    destination_ip    inet,
    destination_port  integer,
    user_name         text,
    process_name      text,
    event_action      text,
    event_outcome     text,
    message           text,
    fields            jsonb       NOT NULL DEFAULT '{}',
    raw               bytea       NOT NULL
);
SELECT create_hypertable('events', 'recorded_at',
                         chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
CREATE UNIQUE INDEX events_position_key ON events (position, recorded_at);
CREATE INDEX events_tenant_position ON events (tenant_id, position);
CREATE INDEX events_tenant_event_time ON events (tenant_id, event_time);

-- One row: the last assigned position and the head of the hash chain. Every append takes its
-- row lock, so commit order equals position order.
CREATE TABLE log_head (
    id           smallint PRIMARY KEY CHECK (id = 1),
    position     bigint      NOT NULL,
    recorded_at  timestamptz NOT NULL,
    batch_seq    bigint      NOT NULL,
    hash         bytea       NOT NULL
);
INSERT INTO log_head VALUES (1, 0, '1970-01-01T00:00:00Z', 0, decode(repeat('00', 32), 'hex'));

-- The hash chain: hash = sha256(prev_hash || canonical bytes of the batch's events).
CREATE TABLE log_batches (
    seq             bigint PRIMARY KEY,
    first_position  bigint      NOT NULL,
    last_position   bigint      NOT NULL,
    event_count     integer     NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL,
    committed_at    timestamptz NOT NULL DEFAULT now()
);

-- Client event ids, for idempotent retries. A plain table: a unique key on the hypertable
-- would have to include recorded_at.
CREATE TABLE event_ids (
    tenant_id  text   NOT NULL,
    event_id   text   NOT NULL,
    position   bigint NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    tenant_id     text        NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,
    record_index  integer     NOT NULL,
    reason        text        NOT NULL,
    raw           bytea       NOT NULL
);
CREATE INDEX dead_letters_tenant_received ON dead_letters (tenant_id, received_at);

CREATE TABLE metrics (
    recorded_at  timestamptz      NOT NULL,
    tenant_id    text             NOT NULL,
    time         timestamptz      NOT NULL,
    name         text             NOT NULL,
    value        double precision NOT NULL,
    labels       jsonb            NOT NULL DEFAULT '{}'
);
SELECT create_hypertable('metrics', 'recorded_at',
                         chunk_time_interval => interval '1 day',
                         create_default_indexes => false);
CREATE INDEX metrics_tenant_name_time ON metrics (tenant_id, name, time);

-- Immutability: the log tables refuse UPDATE, DELETE and TRUNCATE. Data leaves the hot tier
-- only by dropping whole chunks (tiering, retention), which fires none of these.
CREATE FUNCTION tidemark_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tidemark: % on % is refused: the event log is append-only', TG_OP, TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'events leave the hot tier only through tiering or retention';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tidemark_refuse_change('events');
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tidemark_refuse_change('events');
CREATE TRIGGER metrics_append_only BEFORE UPDATE OR DELETE ON metrics
    FOR EACH ROW EXECUTE FUNCTION tidemark_refuse_change('metrics');
CREATE TRIGGER metrics_no_truncate BEFORE TRUNCATE ON metrics
    FOR EACH STATEMENT EXECUTE FUNCTION tidemark_refuse_change('metrics');
CREATE TRIGGER log_batches_append_only BEFORE UPDATE OR DELETE ON log_batches
    FOR EACH ROW EXECUTE FUNCTION tidemark_refuse_change('log_batches');
CREATE TRIGGER log_batches_no_truncate BEFORE TRUNCATE ON log_batches
    FOR EACH STATEMENT EXECUTE FUNCTION tidemark_refuse_change('log_batches');
CREATE TRIGGER event_ids_append_only BEFORE UPDATE OR DELETE ON event_ids
    FOR EACH ROW EXECUTE FUNCTION tidemark_refuse_change('event_ids');
CREATE TRIGGER dead_letters_append_only BEFORE UPDATE OR DELETE ON dead_letters
    FOR EACH ROW EXECUTE FUNCTION tidemark_refuse_change('dead_letters');

REVOKE UPDATE, DELETE, TRUNCATE ON events, metrics, log_batches, event_ids, dead_letters FROM PUBLIC;
