//! Hazard sites and the administrative divisions they belong to.

crate::closed_set!(
    /// Kind of geohazard at a site.
    SiteKind {
        /// 滑坡
        Landslide => "landslide",
        /// 崩塌
        Rockfall => "rockfall",
        /// 泥石流
        DebrisFlow => "debris_flow",
        /// 地面塌陷
        Subsidence => "subsidence",
        /// 地裂缝
        Fissure => "fissure",
    }
);

impl SiteKind {
    /// The hazard type's Chinese name, as registers and prevention cards write it.
    pub fn name_zh(self) -> &'static str {
        match self {
            SiteKind::Landslide => "滑坡",
            SiteKind::Rockfall => "崩塌",
            SiteKind::DebrisFlow => "泥石流",
            SiteKind::Subsidence => "地面塌陷",
            SiteKind::Fissure => "地裂缝",
        }
    }
}

crate::closed_set!(
    /// Where a site stands in its life: watched, in an emergency, made safe, or retired.
    SiteStatus {
        Monitoring => "monitoring",
        Emergency => "emergency",
        Mitigated => "mitigated",
        Closed => "closed",
    }
);

crate::closed_set!(
    /// Level of an administrative division, from the top down (so `Province < County`).
    DivisionLevel {
        Province => "province",
        City => "city",
        County => "county",
        Township => "township",
    }
);

crate::closed_set!(
    /// What a person answers for at a site (the store's `site_responsibles.role`).
    SiteRole {
        /// 群测群防监测员: the village monitor who watches the site.
        Monitor => "monitor",
        /// 乡镇责任人
        TownshipOfficial => "township_official",
        /// 县级责任人
        CountyOfficial => "county_official",
        /// 技术支撑人员
        Engineer => "engineer",
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closed_set::assert_codec;

    #[test]
    fn every_site_kind_status_and_division_level_round_trips_and_unknown_names_are_refused() {
        assert_codec(SiteKind::ALL);
        assert_codec(SiteStatus::ALL);
        assert_codec(DivisionLevel::ALL);
        assert_eq!(SiteKind::ALL.len(), 5);
        assert!(DivisionLevel::Province < DivisionLevel::Township);
    }
}
