-- The cold tier's manifest: every Parquet file in the object store that holds events or
-- metrics moved out of a hypertable chunk, and every chunk whose files are registered.
--
-- A hunt reads the hot tier only above the cold watermark (events: the highest registered
-- last_position; metrics: the latest registered range_end) and the cold tier only at or below
-- it, both under one shared advisory lock that a chunk drop takes exclusively: each row is
-- seen exactly once while tiering runs beside the hunt.

CREATE TABLE cold_chunks (
    table_name      text        NOT NULL CHECK (table_name IN ('events', 'metrics')),
    -- The hypertable chunk, as schema.table.
    chunk           text        NOT NULL,
    range_start     timestamptz NOT NULL,
    range_end       timestamptz NOT NULL,
    first_position  bigint,
    last_position   bigint,
    row_count       bigint      NOT NULL,
    files           integer     NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    -- Set once the chunk is dropped from the hypertable; NULL means a drop is still owed.
    dropped_at      timestamptz,
    PRIMARY KEY (table_name, chunk)
);

CREATE TABLE cold_files (
    id               bigserial   PRIMARY KEY,
    table_name       text        NOT NULL CHECK (table_name IN ('events', 'metrics')),
    chunk            text        NOT NULL,
    tenant_id        text        NOT NULL,
    -- events: the one kind the file holds; metrics: NULL.
    kind             text,
    -- Path inside the object store.
    path             text        NOT NULL UNIQUE,
    first_position   bigint,
    last_position    bigint,
    min_recorded_at  timestamptz NOT NULL,
    max_recorded_at  timestamptz NOT NULL,
    -- events: event_time; metrics: time. NULL when no row has one.
    min_time         timestamptz,
    max_time         timestamptz,
    row_count        bigint      NOT NULL,
    bytes            bigint      NOT NULL,
    sha256           bytea       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (table_name, chunk) REFERENCES cold_chunks (table_name, chunk)
);
CREATE INDEX cold_files_tenant ON cold_files (table_name, tenant_id, max_recorded_at);
