//! A record's URL: path, query and fragment, with the path and asset types
//! the spec derives from it.

use super::Gen;
use super::draw::dim;
use super::vocabulary::{ASSET_MODULES, MODULE_APIS, MODULE_ROUTES, OTHER_PARAMS, UNICODE_PATHS};

/// A URL as written and what the request event takes from it.
pub(super) struct WrittenUrl {
    /// The path alone: what the request event records.
    pub(super) path: String,
    /// Path, query and fragment.
    pub(super) url: String,
    /// The asset types the query names, normalised.
    pub(super) query_asset_types: Vec<String>,
    /// The record's `assetTypes` array (as written, normalised): drawn with
    /// the query's asset types, since one choice covers both.
    pub(super) asset_array: Option<(Vec<String>, Vec<String>)>,
}

impl Gen<'_> {
    /// `path_tok`, `query_tok`: the site token in a `/sites/` segment or a
    /// `siteToken` parameter; `return_tok`: `/sites/` only inside a query
    /// value, which gives no token.
    pub(super) fn url(
        &mut self,
        req: bool,
        module: usize,
        path_tok: Option<String>,
        query_tok: Option<String>,
        return_tok: Option<String>,
    ) -> WrittenUrl {
        // Path.
        let mut path = String::with_capacity(64);
        path.push_str(if req { "/api/v2" } else { "/app" });
        if let Some(t) = &path_tok {
            path.push_str("/sites/");
            path.push_str(t);
        }
        if let (true, Some(poll)) = (req, self.poll_path) {
            path.push_str(poll);
        } else if req && self.choose(dim::UNICODE, &[97, 3]) == 1 {
            path.push_str(self.pick(&UNICODE_PATHS));
        } else {
            let sub = if req {
                self.pick(MODULE_APIS[module])
            } else if self.chance(0.3) {
                MODULE_APIS[module][1]
            } else {
                MODULE_ROUTES[module]
            };
            if let Some((a, b)) = sub.split_once("{id}") {
                path.push_str(a);
                path.push_str(&self.range(1_000, 99_999).to_string());
                path.push_str(b);
            } else {
                path.push_str(sub);
            }
        }

        // Query: other parameters, site token, asset types.
        let mut items: Vec<(String, Vec<String>)> = Vec::new();
        let n_other = if req {
            self.weighted(&[50, 35, 15])
        } else {
            self.weighted(&[70, 30])
        };
        for _ in 0..n_other {
            let p = self.pick(&OTHER_PARAMS);
            if !items.iter().any(|(x, _)| x == p) {
                items.push((p.to_string(), Vec::new()));
            }
        }
        if let Some(t) = &query_tok {
            items.push((format!("siteToken={t}"), Vec::new()));
        }
        if let Some(t) = &return_tok {
            items.push((format!("returnTo=/sites/{t}/assets"), Vec::new()));
        }
        let consult = ASSET_MODULES[module] || self.chance(0.1);
        let (asset_items, array) = if consult {
            self.assets()
        } else {
            (Vec::new(), None)
        };
        items.extend(asset_items);
        if req && self.choose(dim::LONG_QUERY, &[20_000, 1]) == 1 {
            let ids: Vec<String> = (0..700).map(|i| (100_000 + i * 7).to_string()).collect();
            items.push((format!("ids={}", ids.join("%2C")), Vec::new()));
        }
        if items.len() > 1 && self.chance(0.5) {
            for i in (1..items.len()).rev() {
                let j = self.below(i + 1);
                items.swap(i, j);
            }
        }
        let mut url = path.clone();
        for (i, (item, _)) in items.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(item);
        }
        let frag_w: &[u32] = if req { &[92, 5, 3] } else { &[75, 20, 5] };
        match self.choose(dim::FRAGMENT, frag_w) {
            1 => {
                url.push('#');
                url.push_str(self.pick(&["details", "top", "history", "map"]));
            }
            2 => url.push_str("#/history?page=2"),
            _ => {}
        }
        let query_asset_types = items.into_iter().flat_map(|(_, parts)| parts).collect();
        WrittenUrl {
            path,
            url,
            query_asset_types,
            asset_array: array,
        }
    }
}
