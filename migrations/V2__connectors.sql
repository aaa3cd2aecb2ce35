-- Connectors: listeners (syslog over UDP, TCP, TLS) configured as rows and run by the server's
-- supervisor, with their status and counters saved beside them.

CREATE TABLE connectors (
    id          bigserial PRIMARY KEY,
    tenant_id   text        NOT NULL REFERENCES tenants (id),
    name        text        NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    protocol    text        NOT NULL CHECK (protocol IN ('udp', 'tcp', 'tls')),
    enabled     boolean     NOT NULL DEFAULT true,
    -- Bind address, parsing options, TLS paths, filters and rate limit; checked by the API.
    config      jsonb       NOT NULL,
    -- Bumped on every change, so the supervisor restarts exactly the listeners that changed.
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Written by the server that runs the listener, every few seconds and on stop. Counters are
-- totals since the connector was created.
CREATE TABLE connector_status (
    connector_id                bigint PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE,
    state                       text        NOT NULL CHECK (state IN ('starting', 'active', 'warning', 'error', 'stopped')),
    last_successful_connection  timestamptz,
    last_error                  text,
    last_error_at               timestamptz,
    received                    bigint      NOT NULL DEFAULT 0,
    parsed                      bigint      NOT NULL DEFAULT 0,
    stored                      bigint      NOT NULL DEFAULT 0,
    bytes                       bigint      NOT NULL DEFAULT 0,
    connections                 bigint      NOT NULL DEFAULT 0,
    truncated                   bigint      NOT NULL DEFAULT 0,
    -- Dropped messages by reason, e.g. {"rate_limited": 12, "filtered_severity": 3}.
    dropped                     jsonb       NOT NULL DEFAULT '{}',
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
