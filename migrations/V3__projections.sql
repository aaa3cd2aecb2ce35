-- Projections: checkpoints, the live version of each read model, and the alert and incident
-- read models. Read models are folds of the log: they may be rebuilt and replaced at any time,
-- so unlike the event tables they are updated in place.

-- Which version of each projection serves reads. A rebuild fills version N+1 beside the live
-- one and switches this pointer once it has caught up.
CREATE TABLE projections (
    name          text PRIMARY KEY,
    live_version  integer     NOT NULL,
    switched_at   timestamptz NOT NULL DEFAULT now()
);

-- Last log position folded into each version, advanced in the same transaction as the rows.
CREATE TABLE projection_checkpoints (
    name        text        NOT NULL,
    version     integer     NOT NULL,
    position    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

INSERT INTO projections (name, live_version) VALUES ('alerts', 1), ('incidents', 1);
INSERT INTO projection_checkpoints (name, version) VALUES ('alerts', 1), ('incidents', 1);

-- One row per alert. The id is the position of the alert's first event, so a rebuild gives
-- every alert the id it had before.
CREATE TABLE alerts (
    version           integer     NOT NULL,
    tenant_id         text        NOT NULL,
    id                bigint      NOT NULL,
    fingerprint       text        NOT NULL,
    source            text        NOT NULL,
    signature         text        NOT NULL,
    title             text        NOT NULL,
    severity          smallint    NOT NULL,
    status            text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'in_progress', 'resolved')),
    assignee          text,
    resolution        text,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    count             bigint      NOT NULL,
    entities          jsonb       NOT NULL,
    -- Every entity value, flattened, for `entity=` filters.
    entity_values     text[]      NOT NULL,
    incident_id       bigint,
    comments          jsonb       NOT NULL DEFAULT '[]',
    -- Position of the last action on the alert (its id before any): the If-Match version.
    state_version     bigint      NOT NULL,
    last_position     bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (version, tenant_id, id)
);
CREATE INDEX alerts_fingerprint ON alerts (version, tenant_id, fingerprint, id DESC);
CREATE INDEX alerts_last_seen ON alerts (version, tenant_id, last_seen DESC, id DESC);
CREATE INDEX alerts_status ON alerts (version, tenant_id, status, last_seen DESC);
CREATE INDEX alerts_entities ON alerts USING gin (entity_values);

-- The positions of each alert's source events (the first one and every duplicate).
CREATE TABLE alert_sources (
    version    integer NOT NULL,
    tenant_id  text    NOT NULL,
    alert_id   bigint  NOT NULL,
    position   bigint  NOT NULL,
    PRIMARY KEY (version, tenant_id, alert_id, position)
);

-- One row per incident; the id is the position of the action that created it.
CREATE TABLE incidents (
    version        integer     NOT NULL,
    tenant_id      text        NOT NULL,
    id             bigint      NOT NULL,
    title          text        NOT NULL,
    description    text,
    status         text        NOT NULL CHECK (status IN ('open', 'investigating', 'contained', 'resolved', 'closed')),
    severity       text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    assignee       text,
    resolution     text,
    alert_ids      bigint[]    NOT NULL DEFAULT '{}',
    notes          jsonb       NOT NULL DEFAULT '[]',
    evidence       jsonb       NOT NULL DEFAULT '[]',
    created_by     text        NOT NULL,
    state_version  bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    closed_at      timestamptz,
    PRIMARY KEY (version, tenant_id, id)
);
CREATE INDEX incidents_status ON incidents (version, tenant_id, status, id DESC);

-- Analyst actions name the alerts and incidents they touch in `fields->'soc.objects'`; this
-- finds an object's actions without scanning the log.
CREATE INDEX events_action_objects ON events USING gin ((fields -> 'soc.objects') jsonb_path_ops)
    WHERE kind = 'action';
