-- Keys and indexes of the sample schema, added after the data is in.

ALTER TABLE users ADD PRIMARY KEY (id), ADD UNIQUE (email);

ALTER TABLE orders ADD PRIMARY KEY (id),
    ADD FOREIGN KEY (user_id) REFERENCES users (id);

CREATE INDEX orders_created_at_idx ON orders (created_at);

ALTER TABLE products ADD PRIMARY KEY (id), ADD UNIQUE (sku);
