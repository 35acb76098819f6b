//! The HTTP edge's common parts: Strapi's error shape ([`error`]), reading request bodies and
//! parameters ([`body`]), and the bearer tokens of the admin and webhook routes ([`auth`]).
//! The routes are listed in [`crate::app::router`]; their handlers live with what they serve
//! ([`crate::rpc`], [`crate::monitoring`], [`crate::webhook`]).

pub(crate) mod auth;
pub(crate) mod body;
pub(crate) mod error;
#[cfg(test)]
mod tests;
