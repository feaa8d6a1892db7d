//! Sensors at a site.

crate::closed_set!(
    /// What a sensor measures.
    SensorKind {
        RainGauge => "rain_gauge",
        CrackMeter => "crack_meter",
        Gnss => "gnss",
        Inclinometer => "inclinometer",
        Piezometer => "piezometer",
        SoilMoisture => "soil_moisture",
        MudLevel => "mud_level",
        WaterLevel => "water_level",
        SupplyVoltage => "supply_voltage",
        Other => "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sensor_kind_round_trips_and_unknown_names_are_refused() {
        crate::closed_set::assert_codec(SensorKind::ALL);
        assert_eq!(SensorKind::ALL.len(), 10);
    }
}
