-- The reportd sample schema (DESIGN.md, "The sample schema"). Load creates
-- the tables bare, fills them, and only then adds the keys and indexes in
-- constraints.sql: building an index once over a million rows is several
-- times faster than maintaining it (and checking a foreign key) row by row.

CREATE TABLE users (
    id         bigint      NOT NULL,
    email      text        NOT NULL,
    created_at timestamptz NOT NULL,
    last_login timestamptz
);

CREATE TABLE orders (
    id            bigint        NOT NULL,
    user_id       bigint,
    customer_name text          NOT NULL,
    total         numeric(12,2) NOT NULL,
    status        text          NOT NULL,
    created_at    timestamptz   NOT NULL
);

CREATE TABLE products (
    id            bigint      NOT NULL,
    sku           text        NOT NULL,
    name          text        NOT NULL,
    stock         integer     NOT NULL,
    reorder_level integer     NOT NULL,
    updated_at    timestamptz NOT NULL
);
