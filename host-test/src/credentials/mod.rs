//! Where a store's credentials come from when its options hold none:
//! Docker's `config.json` (logins and credential helpers) and password files.

pub(crate) mod docker_config;
pub(crate) mod helper;
pub(crate) mod password_file;
