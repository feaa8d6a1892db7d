-- Each site's emergency plan (应急预案) and what its prevention card (防灾明白卡) prints:
-- contacts, evacuation routes (GeoJSON LineStrings), assembly points, the warning signal,
-- resources. One per site.
CREATE TABLE site_plans (
    site_id        bigint PRIMARY KEY REFERENCES hazard_sites (id) ON DELETE CASCADE,
    -- [{"name", "role", "phone"}]
    contacts       jsonb NOT NULL DEFAULT '[]',
    -- GeoJSON FeatureCollection of LineStrings, each with a "name".
    routes         jsonb NOT NULL DEFAULT '{"type": "FeatureCollection", "features": []}',
    -- [{"name", "longitude", "latitude", "capacity"}]
    assembly_points jsonb NOT NULL DEFAULT '[]',
    -- How the warning is given (gong, siren, loudspeaker) and what each signal means.
    signal         text NOT NULL DEFAULT '' CHECK (length(signal) <= 500),
    resources      text NOT NULL DEFAULT '' CHECK (length(resources) <= 1000),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     bigint REFERENCES officers (id)
);
