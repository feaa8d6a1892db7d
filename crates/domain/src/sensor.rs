//! Sensors at a site.

crate::closed_set!(
    /// What a sensor measures (by name also by its label, `sensor.kind.<name>`, in either
    /// language).
    SensorKind labelled "sensor.kind" {
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

    #[test]
    fn sensor_kinds_are_read_by_name_or_by_label_in_either_language() {
        assert_eq!(SensorKind::by_name("裂缝计"), Some(SensorKind::CrackMeter));
        assert_eq!(
            SensorKind::by_name(" rain gauge"),
            Some(SensorKind::RainGauge)
        );
        assert_eq!(SensorKind::by_name("mud_level"), Some(SensorKind::MudLevel));
        assert_eq!(SensorKind::by_name("测斜仪器"), None);
        for kind in SensorKind::ALL {
            for lang in crate::catalogue::LANGUAGES {
                let label = crate::message(&format!("sensor.kind.{kind}"), lang).unwrap();
                assert_eq!(SensorKind::by_name(label), Some(*kind), "{label}");
            }
        }
    }
}
