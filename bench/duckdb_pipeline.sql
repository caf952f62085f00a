-- The lakehouse's transformations in DuckDB SQL: the single-node reference.
--
-- Same landing files, same rules as assets/transforms/ (bronze -> silver -> gold -> features),
-- written as Parquet (partitioned like the platform's Delta tables) instead of Delta, in one
-- process with no orchestration and no checks. Run by bench/duckdb_run.py, which substitutes
-- {{landing}}, {{out}}, {{start}}, {{end}} and {{run_id}}, and the relations {{all_bronze_customers}},
-- {{all_bronze_products}}, {{existing_order_keys}} and {{all_silver_orders}}: built from empty (the range
-- benchmark), they are this run's own temp tables (no earlier silver to deduplicate against); run
-- incrementally (duckdb_run --incremental, the year scenario's new days), they read the Parquet already
-- in {{out}}, to which this run appends its days' partitions (the driver deletes them first).
-- Semantics follow the Spark code line by line; where a comment says "Spark:", it names the
-- function in assets/transforms/ that the statement mirrors.

SET TimeZone = 'UTC';

-- == bronze ====================================================================================
-- Spark: raw_lines + parse_order_lines. Each non-blank line of each file of the landing days;
-- a line that is not a JSON object of the order schema becomes a reject with its raw text.
CREATE TEMP TABLE order_records AS
WITH raw AS (
    SELECT value, filename AS _source_file,
           CAST(regexp_extract(filename, 'date=(\d{4}-\d{2}-\d{2})', 1) AS DATE) AS _landed_date
    FROM read_csv('{{landing}}/orders/date=*/*.jsonl', columns = {'value': 'VARCHAR'}, delim = chr(1),
                  quote = '', escape = '', header = false, auto_detect = false, filename = true)
), in_range AS (
    SELECT * FROM raw
    WHERE _landed_date BETWEEN DATE '{{start}}' AND DATE '{{end}}' AND trim(value) <> ''
), parsed AS (
    SELECT *, CASE WHEN json_valid(value) AND json_type(value) = 'OBJECT' THEN json_transform(value,
        '{"order_id": "VARCHAR", "customer_id": "VARCHAR", "order_ts": "VARCHAR", "channel": "VARCHAR",
          "currency": "VARCHAR",
          "items": [{"line_no": "INTEGER", "product_id": "VARCHAR", "quantity": "INTEGER", "unit_price": "DOUBLE"}]}')
        END AS o
    FROM in_range
)
SELECT o.order_id, o.customer_id, o.order_ts, o.channel, o.currency, o.items,
       CASE WHEN o IS NULL THEN value END AS _corrupt_record,
       _source_file, _landed_date, now()::TIMESTAMP AS _ingested_at, '{{run_id}}' AS _run_id
FROM parsed;

-- Spark: csv_records (PERMISSIVE CSV with a corrupt-record column). DuckDB skips a malformed
-- row and names it in the rejects tables, with the raw line.
CREATE TEMP TABLE customer_rows AS
SELECT *, CAST(regexp_extract(filename, 'date=(\d{4}-\d{2}-\d{2})', 1) AS DATE) AS _landed_date
FROM read_csv('{{landing}}/customers/date=*/*.csv',
              columns = {'customer_id': 'VARCHAR', 'name': 'VARCHAR', 'email': 'VARCHAR', 'address': 'VARCHAR',
                         'city': 'VARCHAR', 'signup_date': 'VARCHAR', 'updated_at': 'VARCHAR'},
              header = true, delim = ',', quote = '"', escape = '"', auto_detect = false, filename = true,
              ignore_errors = true, store_rejects = true,
              rejects_table = 'customer_reject_errors', rejects_scan = 'customer_reject_scans');

CREATE TEMP TABLE product_rows AS
SELECT *, CAST(regexp_extract(filename, 'date=(\d{4}-\d{2}-\d{2})', 1) AS DATE) AS _landed_date
FROM read_csv('{{landing}}/products/date=*/*.csv',
              columns = {'product_id': 'VARCHAR', 'name': 'VARCHAR', 'category': 'VARCHAR', 'unit_price': 'VARCHAR'},
              header = true, delim = ',', quote = '"', escape = '"', auto_detect = false, filename = true,
              ignore_errors = true, store_rejects = true,
              rejects_table = 'product_reject_errors', rejects_scan = 'product_reject_scans');

CREATE TEMP TABLE bronze_orders AS
SELECT * EXCLUDE (_corrupt_record) FROM order_records WHERE _corrupt_record IS NULL;
CREATE TEMP TABLE bronze_customers AS
SELECT customer_id, name, email, address, city, signup_date, updated_at, filename AS _source_file, _landed_date,
       now()::TIMESTAMP AS _ingested_at, '{{run_id}}' AS _run_id
FROM customer_rows WHERE _landed_date BETWEEN DATE '{{start}}' AND DATE '{{end}}';
CREATE TEMP TABLE bronze_products AS
SELECT product_id, name, category, unit_price, filename AS _source_file, _landed_date,
       now()::TIMESTAMP AS _ingested_at, '{{run_id}}' AS _run_id
FROM product_rows WHERE _landed_date BETWEEN DATE '{{start}}' AND DATE '{{end}}';

COPY bronze_orders TO '{{out}}/bronze/orders' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY (SELECT 'orders' AS source, _corrupt_record AS raw_record, 'malformed JSON or not an order record' AS reason,
             _source_file, _landed_date, _ingested_at, _run_id
      FROM order_records WHERE _corrupt_record IS NOT NULL)
  TO '{{out}}/bronze/rejected_orders' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY bronze_customers TO '{{out}}/bronze/customers' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY bronze_products TO '{{out}}/bronze/products' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY (SELECT DISTINCT 'customers' AS source, rtrim(e.csv_line, chr(10)) AS raw_record,
             'malformed CSV row (wrong number of fields or broken quoting)' AS reason, s.file_path AS _source_file,
             CAST(regexp_extract(s.file_path, 'date=(\d{4}-\d{2}-\d{2})', 1) AS DATE) AS _landed_date, e.line
      FROM customer_reject_errors e JOIN customer_reject_scans s USING (scan_id, file_id))
  TO '{{out}}/bronze/rejected_customers' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY (SELECT DISTINCT 'products' AS source, rtrim(e.csv_line, chr(10)) AS raw_record,
             'malformed CSV row (wrong number of fields or broken quoting)' AS reason, s.file_path AS _source_file,
             CAST(regexp_extract(s.file_path, 'date=(\d{4}-\d{2}-\d{2})', 1) AS DATE) AS _landed_date, e.line
      FROM product_reject_errors e JOIN product_reject_scans s USING (scan_id, file_id))
  TO '{{out}}/bronze/rejected_products' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);

-- == silver: products ========================================================================
-- Spark: validate_product_records + mark_repeats + current_products.
CREATE TEMP TABLE product_checked AS
WITH typed AS (
    SELECT trim(product_id) AS product_id, name, lower(trim(category)) AS category,
           TRY_CAST(unit_price AS DECIMAL(12, 2)) AS unit_price, _source_file, _landed_date, _ingested_at
    FROM {{all_bronze_products}}
), ruled AS (
    SELECT *, CASE
        WHEN product_id IS NULL OR trim(product_id) = '' THEN 'missing_product_id'
        WHEN category IS NULL OR trim(category) = '' THEN 'missing_category'
        WHEN unit_price IS NULL OR unit_price < 0 THEN 'invalid_unit_price'
    END AS _rule
    FROM typed
)
SELECT * EXCLUDE (_rule), CASE
    WHEN _rule IS NULL AND row_number() OVER (PARTITION BY product_id, _landed_date, _rule IS NULL
                                              ORDER BY _source_file) > 1 THEN 'duplicate_record'
    ELSE _rule END AS _rule
FROM ruled;

CREATE TEMP TABLE silver_products AS
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY product_id ORDER BY _landed_date DESC, _source_file DESC) AS _rank,
           count(*) OVER (PARTITION BY product_id) AS _source_records
    FROM product_checked WHERE _rule IS NULL
)
SELECT product_id, name, category, unit_price, _landed_date, _source_records,
       sha256(concat_ws(chr(9247), coalesce(product_id, chr(9216)), coalesce(name, chr(9216)),
              coalesce(category, chr(9216)), coalesce(unit_price::VARCHAR, chr(9216)),
              coalesce(_landed_date::VARCHAR, chr(9216)), coalesce(_source_records::VARCHAR, chr(9216)))) AS _row_hash
FROM ranked WHERE _rank = 1;

COPY silver_products TO '{{out}}/silver/products.parquet' (FORMAT parquet);
COPY (SELECT product_id, _rule AS rule,
             to_json({'product_id': product_id, 'name': name, 'category': category, 'unit_price': unit_price}) AS record,
             _landed_date, _source_file
      FROM product_checked WHERE _rule IS NOT NULL)
  TO '{{out}}/silver/quarantine_products.parquet' (FORMAT parquet);

-- == silver: customers (SCD type 2) ==========================================================
-- Spark: validate_customer_records + mark_repeats + mark_unchanged + customer_history.
CREATE TEMP TABLE customer_checked AS
WITH typed AS (
    SELECT trim(customer_id) AS customer_id, name, lower(trim(email)) AS email, address, city,
           TRY_CAST(signup_date AS DATE) AS signup_date, TRY_CAST(updated_at AS TIMESTAMP) AS updated_at,
           _source_file, _landed_date, _ingested_at
    FROM {{all_bronze_customers}}
), ruled AS (
    SELECT *, CASE
        WHEN customer_id IS NULL OR trim(customer_id) = '' THEN 'missing_customer_id'
        WHEN email IS NULL OR trim(email) = '' THEN 'missing_email'
        WHEN NOT regexp_matches(email, '^[^@\s]+@[^@\s]+\.[^@\s]+$') THEN 'invalid_email'
        WHEN signup_date IS NULL THEN 'invalid_signup_date'
        WHEN updated_at IS NULL THEN 'invalid_updated_at'
    END AS _rule
    FROM typed
)
SELECT * EXCLUDE (_rule), CASE
    WHEN _rule IS NULL AND row_number() OVER (PARTITION BY customer_id, updated_at, _rule IS NULL
                                              ORDER BY _landed_date, _source_file) > 1 THEN 'duplicate_record'
    ELSE _rule END AS _rule
FROM ruled;

CREATE TEMP TABLE silver_customers AS
WITH attributed AS (
    SELECT *, concat_ws(chr(9247), coalesce(name, chr(9216)), coalesce(email, chr(9216)), coalesce(address, chr(9216)),
                        coalesce(city, chr(9216)), coalesce(signup_date::VARCHAR, chr(9216))) AS _attributes
    FROM customer_checked WHERE _rule IS NULL
), marked AS (
    SELECT *, coalesce(lag(_attributes) OVER (PARTITION BY customer_id ORDER BY updated_at) = _attributes, false)
              AS _unchanged
    FROM attributed
), numbered AS (
    SELECT *, sum(CASE WHEN _unchanged THEN 0 ELSE 1 END) OVER (
                  PARTITION BY customer_id ORDER BY updated_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
              AS _version
    FROM marked
), records AS (
    SELECT customer_id, _version, count(*) AS _source_records FROM numbered GROUP BY ALL
), versions AS (
    SELECT n.customer_id, name, email, address, city, signup_date, updated_at AS valid_from, _landed_date,
           r._source_records
    FROM numbered n JOIN records r USING (customer_id, _version)
    WHERE NOT _unchanged
), history AS (
    SELECT customer_id, name, email, address, city, signup_date, valid_from,
           lead(valid_from) OVER (PARTITION BY customer_id ORDER BY valid_from) AS valid_to,
           _landed_date, _source_records
    FROM versions
)
SELECT customer_id, name, email, address, city, signup_date, valid_from, valid_to, valid_to IS NULL AS is_current,
       _landed_date, _source_records,
       sha256(concat_ws(chr(9247), coalesce(customer_id, chr(9216)), coalesce(name, chr(9216)),
              coalesce(email, chr(9216)), coalesce(address, chr(9216)), coalesce(city, chr(9216)),
              coalesce(signup_date::VARCHAR, chr(9216)), coalesce(valid_from::VARCHAR, chr(9216)),
              coalesce(valid_to::VARCHAR, chr(9216)), (valid_to IS NULL)::VARCHAR,
              coalesce(_landed_date::VARCHAR, chr(9216)), coalesce(_source_records::VARCHAR, chr(9216)))) AS _row_hash
FROM history;

COPY silver_customers TO '{{out}}/silver/customers.parquet' (FORMAT parquet);
COPY (SELECT customer_id, _rule AS rule,
             to_json({'customer_id': customer_id, 'name': name, 'email': email, 'address': address, 'city': city,
                      'signup_date': signup_date, 'updated_at': updated_at}) AS record,
             _landed_date, _source_file
      FROM customer_checked WHERE _rule IS NOT NULL)
  TO '{{out}}/silver/quarantine_customers.parquet' (FORMAT parquet);

-- == silver: orders ==========================================================================
-- Spark: explode_order_lines + validate_order_lines + conform_order_lines.
CREATE TEMP TABLE order_checked AS
WITH exploded AS (
    SELECT order_id, customer_id, order_ts AS order_ts_text, channel, currency,
           unnest(CASE WHEN items IS NULL OR len(items) = 0 THEN [NULL] ELSE items END) AS item,
           _source_file, _landed_date, _ingested_at
    FROM bronze_orders
), lines AS (
    SELECT order_id, item.line_no AS line_no, customer_id,
           TRY_CAST(order_ts_text AS TIMESTAMP) AS order_ts, TRY_CAST(order_ts_text AS TIMESTAMP)::DATE AS order_date,
           channel, currency, item.product_id AS product_id, item.quantity AS quantity,
           TRY_CAST(item.unit_price AS DECIMAL(12, 2)) AS unit_price,
           TRY_CAST(item.quantity * TRY_CAST(item.unit_price AS DECIMAL(12, 2)) AS DECIMAL(12, 2)) AS line_amount,
           _source_file, _landed_date, _ingested_at
    FROM exploded
), known AS (
    SELECT l.*, c.customer_id IS NOT NULL AS _customer_known, p.product_id IS NOT NULL AS _product_known
    FROM lines l
    LEFT JOIN (SELECT DISTINCT customer_id FROM silver_customers) c ON l.customer_id = c.customer_id
    LEFT JOIN (SELECT DISTINCT product_id FROM silver_products) p ON l.product_id = p.product_id
), ruled AS (
    SELECT * EXCLUDE (_customer_known, _product_known), CASE
        WHEN order_id IS NULL OR trim(order_id) = '' THEN 'missing_order_id'
        WHEN order_ts IS NULL THEN 'invalid_order_ts'
        WHEN customer_id IS NULL OR trim(customer_id) = '' THEN 'missing_customer_id'
        WHEN line_no IS NULL THEN 'no_line_items'
        WHEN product_id IS NULL OR trim(product_id) = '' THEN 'missing_product_id'
        WHEN quantity IS NULL OR quantity <= 0 THEN 'non_positive_quantity'
        WHEN unit_price IS NULL OR unit_price < 0 THEN 'negative_unit_price'
        WHEN NOT _customer_known THEN 'unknown_customer'
        WHEN NOT _product_known THEN 'unknown_product'
    END AS _rule
    FROM known
), tainted AS (
    -- An order is accepted or quarantined whole (per landed copy).
    SELECT * EXCLUDE (_rule), CASE
        WHEN _rule IS NULL AND order_id IS NOT NULL
             AND count(_rule) OVER (PARTITION BY order_id, _source_file) > 0 THEN 'order_has_invalid_line'
        ELSE _rule END AS _rule
    FROM ruled
)
SELECT * EXCLUDE (_rule, _existing_landed_date), CASE
    WHEN _rule IS NULL AND (row_number() OVER (PARTITION BY order_id, line_no, _rule IS NULL
                                               ORDER BY _landed_date, _source_file, _ingested_at) > 1
                            OR coalesce(_existing_landed_date < _landed_date, false))
        THEN 'duplicate_order_line'
    ELSE _rule END AS _rule
FROM tainted LEFT JOIN (
    -- Spark: validate_order_lines' existing_keys, the keys silver already holds (none from empty).
    SELECT order_id, line_no, min(_landed_date) AS _existing_landed_date FROM {{existing_order_keys}} GROUP BY ALL
) USING (order_id, line_no);

CREATE TEMP TABLE silver_orders AS
SELECT order_id, line_no, customer_id, order_ts, order_date, channel, currency, product_id, quantity, unit_price,
       line_amount, _landed_date, _source_file, _ingested_at,
       sha256(concat_ws(chr(9247), coalesce(order_id, chr(9216)), coalesce(line_no::VARCHAR, chr(9216)),
              coalesce(customer_id, chr(9216)), coalesce(order_ts::VARCHAR, chr(9216)),
              coalesce(order_date::VARCHAR, chr(9216)), coalesce(channel, chr(9216)), coalesce(currency, chr(9216)),
              coalesce(product_id, chr(9216)), coalesce(quantity::VARCHAR, chr(9216)),
              coalesce(unit_price::VARCHAR, chr(9216)), coalesce(line_amount::VARCHAR, chr(9216)),
              coalesce(_landed_date::VARCHAR, chr(9216)), coalesce(_source_file, chr(9216)))) AS _row_hash
FROM order_checked WHERE _rule IS NULL;

COPY silver_orders TO '{{out}}/silver/orders' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);
COPY (SELECT order_id, line_no, customer_id, product_id, _rule AS rule,
             to_json({'order_id': order_id, 'line_no': line_no, 'customer_id': customer_id, 'order_ts': order_ts,
                      'order_date': order_date, 'channel': channel, 'currency': currency, 'product_id': product_id,
                      'quantity': quantity, 'unit_price': unit_price, 'line_amount': line_amount}) AS record,
             _landed_date, _source_file, '{{run_id}}' AS _run_id
      FROM order_checked WHERE _rule IS NOT NULL)
  TO '{{out}}/silver/quarantine_orders' (FORMAT parquet, PARTITION_BY (_landed_date), APPEND);

-- == gold ====================================================================================
-- Spark: gold.daily_sales, per order day of the range.
COPY (
    SELECT o.order_date, coalesce(p.category, 'unknown') AS category,
           count(DISTINCT o.order_id) AS orders, sum(o.quantity)::BIGINT AS units,
           sum(o.line_amount)::DECIMAL(18, 2) AS revenue, count(DISTINCT o.customer_id) AS customers
    FROM {{all_silver_orders}} o LEFT JOIN silver_products p USING (product_id)
    WHERE o.order_date BETWEEN DATE '{{start}}' AND DATE '{{end}}'
    GROUP BY ALL
) TO '{{out}}/gold/daily_sales' (FORMAT parquet, PARTITION_BY (order_date), APPEND);

-- Spark: gold.orders, one row per order (shared by lifetime value and features).
CREATE TEMP TABLE per_order AS
SELECT order_id, first(customer_id) AS customer_id, first(order_date) AS order_date,
       min(_landed_date) AS known_date, sum(line_amount)::DECIMAL(18, 2) AS amount
FROM {{all_silver_orders}} WHERE order_date <= DATE '{{end}}'
GROUP BY order_id;

CREATE TEMP TABLE as_of AS
SELECT CAST(d AS DATE) AS as_of_date FROM range(DATE '{{start}}', DATE '{{end}}' + 1, INTERVAL 1 DAY) t(d);

-- Spark: gold.customer_lifetime_value, for every day of the range.
COPY (
    SELECT as_of_date, customer_id, count(order_id) AS orders, sum(amount)::DECIMAL(18, 2) AS lifetime_revenue,
           min(order_date) AS first_order_date, max(order_date) AS last_order_date,
           (sum(amount)::DECIMAL(18, 2) / count(order_id))::DECIMAL(18, 2) AS average_order_value
    FROM per_order JOIN as_of ON per_order.order_date <= as_of.as_of_date
    GROUP BY as_of_date, customer_id
) TO '{{out}}/gold/customer_lifetime_value' (FORMAT parquet, PARTITION_BY (as_of_date), APPEND);

-- == features ================================================================================
-- Spark: features.customer_features, point in time: orders placed and landed by the as-of day,
-- the dimension version valid at the end of it.
COPY (
    WITH behaviour AS (
        SELECT as_of_date, customer_id, count(order_id) AS frequency, sum(amount) AS monetary,
               max(order_date) AS last_order_date,
               sum(CASE WHEN as_of_date - order_date < 30 THEN amount ELSE 0 END) AS spend_30d,
               sum(CASE WHEN as_of_date - order_date < 90 THEN amount ELSE 0 END) AS spend_90d
        FROM per_order JOIN as_of ON per_order.order_date <= as_of.as_of_date AND per_order.known_date <= as_of.as_of_date
        GROUP BY as_of_date, customer_id
    ), dimension AS (
        SELECT a.as_of_date, h.customer_id, h.city, h.signup_date
        FROM silver_customers h JOIN as_of a
          ON h.valid_from < CAST(a.as_of_date + 1 AS TIMESTAMP)
         AND (h.valid_to IS NULL OR h.valid_to >= CAST(a.as_of_date + 1 AS TIMESTAMP))
    )
    SELECT d.customer_id, d.as_of_date, d.city, d.as_of_date - d.signup_date AS tenure_days,
           d.as_of_date - b.last_order_date AS recency_days,
           coalesce(b.frequency, 0)::BIGINT AS frequency, coalesce(b.monetary, 0)::DECIMAL(18, 2) AS monetary,
           coalesce(b.spend_30d, 0)::DECIMAL(18, 2) AS spend_30d, coalesce(b.spend_90d, 0)::DECIMAL(18, 2) AS spend_90d,
           (b.monetary / b.frequency)::DECIMAL(18, 2) AS average_basket
    FROM dimension d LEFT JOIN behaviour b USING (as_of_date, customer_id)
) TO '{{out}}/features/customer_features' (FORMAT parquet, PARTITION_BY (as_of_date), APPEND);
