//! [`Live`]: the live settings with the rules derived from them, read by every check and
//! swapped as a whole when the settings change.

use strapi_io_core::Settings;
use strapi_io_core::access::AccessRules;

/// The live settings with what is derived from them, swapped as a whole.
pub(crate) struct Live {
    pub(crate) settings: Settings,
    pub(crate) access: AccessRules,
}

impl Live {
    pub(crate) fn new(settings: Settings) -> Self {
        let access = AccessRules::new(&settings.security);
        Live { settings, access }
    }
}

impl std::ops::Deref for Live {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}
