//! Hazard sites and the administrative divisions they belong to.

crate::closed_set!(
    /// Kind of geohazard at a site (by name also as registers write it in Chinese).
    SiteKind {
        /// 滑坡
        Landslide => "landslide" | "滑坡",
        /// 崩塌
        Rockfall => "rockfall" | "崩塌" | "危岩" | "危岩体",
        /// 泥石流
        DebrisFlow => "debris_flow" | "泥石流",
        /// 地面塌陷
        Subsidence => "subsidence" | "地面塌陷" | "塌陷",
        /// 地裂缝
        Fissure => "fissure" | "地裂缝",
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
    /// Where a site stands in its life: watched, in an emergency, made safe, or retired (by name
    /// also as registers write it in Chinese).
    SiteStatus {
        Monitoring => "monitoring" | "监测中" | "监测",
        Emergency => "emergency" | "应急" | "应急处置",
        Mitigated => "mitigated" | "已治理",
        Closed => "closed" | "已核销" | "核销",
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

    #[test]
    fn site_kinds_and_statuses_are_read_by_name_or_as_registers_write_them_in_chinese() {
        assert_eq!(SiteKind::by_name(" 危岩体 "), Some(SiteKind::Rockfall));
        assert_eq!(SiteKind::by_name("塌陷"), Some(SiteKind::Subsidence));
        assert_eq!(SiteKind::by_name("debris_flow"), Some(SiteKind::DebrisFlow));
        assert_eq!(SiteKind::by_name("Debris_flow"), None);
        assert_eq!(SiteKind::by_name("滑坡体"), None);
        for kind in SiteKind::ALL {
            assert_eq!(SiteKind::by_name(kind.name_zh()), Some(*kind));
        }
        assert_eq!(SiteStatus::by_name("监测"), Some(SiteStatus::Monitoring));
        assert_eq!(SiteStatus::by_name("应急处置"), Some(SiteStatus::Emergency));
        assert_eq!(SiteStatus::by_name("已核销"), Some(SiteStatus::Closed));
        assert_eq!(
            SiteStatus::by_name("mitigated"),
            Some(SiteStatus::Mitigated)
        );
        assert_eq!(SiteStatus::by_name("已撤销"), None);
        assert_eq!(SiteKind::LABELS, None);
    }
}
