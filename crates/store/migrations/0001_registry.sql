-- The registry: administrative divisions, hazard sites, the people responsible for them,
-- field gateways and their sensors. Geometry is GeoJSON (jsonb), handled in Rust with `geo`;
-- point locations also get plain longitude/latitude columns for indexing and sorting.

CREATE TABLE divisions (
    -- GB/T 2260 code: 6 digits for province, city and county; townships add 3 digits.
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}([0-9]{3})?$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'township')),
    parent_code text REFERENCES divisions (code),
    -- GeoJSON Polygon or MultiPolygon, WGS 84.
    boundary    jsonb,
    CHECK ((level = 'province') = (parent_code IS NULL))
);
CREATE INDEX divisions_parent_idx ON divisions (parent_code);

CREATE TABLE hazard_sites (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                  text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                  text NOT NULL CHECK (kind IN ('landslide', 'rockfall', 'debris_flow', 'subsidence', 'fissure')),
    -- The county (or township) the site is registered in: every query is scoped by it.
    division_code         text NOT NULL REFERENCES divisions (code),
    longitude             double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    latitude              double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    -- GeoJSON Polygon of the area a failure would reach.
    threat_zone           jsonb,
    -- Scale class per DZ/T 0286: small, medium, large, huge; volume in cubic metres.
    scale_class           text CHECK (scale_class IN ('small', 'medium', 'large', 'huge')),
    volume_m3             double precision CHECK (volume_m3 >= 0),
    threatened_people     integer NOT NULL DEFAULT 0 CHECK (threatened_people >= 0),
    -- Property threatened, in 10,000 CNY (the unit used in Chinese hazard registers).
    threatened_property   double precision NOT NULL DEFAULT 0 CHECK (threatened_property >= 0),
    status                text NOT NULL DEFAULT 'monitoring'
                          CHECK (status IN ('monitoring', 'emergency', 'mitigated', 'closed')),
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hazard_sites_division_idx ON hazard_sites (division_code);

CREATE TABLE people (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- E.164 without the plus, or a national mobile number.
    phone         text CHECK (phone ~ '^[0-9]{5,20}$'),
    division_code text NOT NULL REFERENCES divisions (code),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Who answers for a site: the village monitor (mass-monitoring network), the township and
-- county officials responsible, the technical support engineer.
CREATE TABLE site_responsibles (
    site_id   bigint NOT NULL REFERENCES hazard_sites (id) ON DELETE CASCADE,
    person_id bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role      text NOT NULL CHECK (role IN ('monitor', 'township_official', 'county_official', 'engineer')),
    PRIMARY KEY (site_id, person_id, role)
);

CREATE TABLE gateways (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Also the gateway's MQTT client id and user name: it may publish only under gh/v1/gw/{code}/.
    code             text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
    site_id          bigint REFERENCES hazard_sites (id),
    name             text NOT NULL DEFAULT '',
    -- argon2 PHC string of the device's MQTT password; NULL until credentials are issued.
    password_hash    text,
    firmware_version text,
    last_seen_at     timestamptz,
    online           boolean NOT NULL DEFAULT false,
    last_status      jsonb,
    -- The gateway's telemetry sequence number of the latest message stored.
    last_seq         bigint,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateways_site_idx ON gateways (site_id);

CREATE TABLE sensors (
    id                  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id          bigint NOT NULL REFERENCES gateways (id),
    -- The channel name the gateway uses in telemetry.
    channel             text NOT NULL CHECK (channel ~ '^[A-Za-z0-9_.-]{1,64}$'),
    site_id             bigint NOT NULL REFERENCES hazard_sites (id),
    kind                text NOT NULL CHECK (kind IN ('rain_gauge', 'crack_meter', 'gnss', 'inclinometer',
                                                     'piezometer', 'soil_moisture', 'mud_level',
                                                     'water_level', 'supply_voltage', 'other')),
    unit                text NOT NULL CHECK (length(unit) BETWEEN 1 AND 16),
    -- Where it is installed: longitude, latitude, elevation (m), depth below ground (m).
    longitude           double precision CHECK (longitude BETWEEN -180 AND 180),
    latitude            double precision CHECK (latitude BETWEEN -90 AND 90),
    elevation_m         double precision,
    depth_m             double precision,
    sampling_interval_s integer NOT NULL DEFAULT 60 CHECK (sampling_interval_s > 0),
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (gateway_id, channel)
);
CREATE INDEX sensors_site_idx ON sensors (site_id);

-- Everything refused at the door, with its reason: nothing is dropped silently.
CREATE TABLE quarantine (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text NOT NULL,
    -- The gateway the topic names, as claimed (it may be unknown).
    gateway_code  text,
    reason        text NOT NULL,
    detail        text NOT NULL,
    -- Position of the refused reading in its message; NULL when the whole message was refused.
    reading_index integer,
    -- The refused bytes (the whole message, or the one reading), cut at 64 KiB.
    payload       bytea NOT NULL,
    payload_size  integer NOT NULL
);
CREATE INDEX quarantine_received_idx ON quarantine (received_at);
CREATE INDEX quarantine_gateway_idx ON quarantine (gateway_code, received_at);
