//! Keys, certificate signing requests and certificates: what berth's private CAs and its proxies need.
