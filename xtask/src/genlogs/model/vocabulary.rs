//! The words the lines are made of: the application's modules, routes and
//! APIs, asset types, query parameters, user agents, people and paths. The
//! `MODULE*` and `ASSET_MODULES` arrays are parallel, indexed by module.

pub(super) const MODULES: [&str; 9] = [
    "Work Orders",
    "Assets",
    "Inspections",
    "Reports",
    "Maintenance Plans",
    "Dashboard",
    "Parts Inventory",
    "Safety Incidents",
    "Admin Settings",
];
pub(super) const MODULE_WEIGHTS: [u32; 9] = [30, 25, 15, 10, 10, 15, 8, 5, 3];
/// Front-end routes (after `/app`).
pub(super) const MODULE_ROUTES: [&str; 9] = [
    "/work-orders",
    "/assets",
    "/inspections",
    "/reports",
    "/maintenance-plans",
    "/dashboard",
    "/parts",
    "/incidents",
    "/admin",
];
/// API paths (after `/api/v2`); `{id}` becomes a number.
pub(super) const MODULE_APIS: [&[&str]; 9] = [
    &[
        "/work-orders",
        "/work-orders/{id}",
        "/work-orders/{id}/tasks",
        "/work-orders/{id}/comments",
        "/work-orders/search",
    ],
    &[
        "/assets",
        "/assets/{id}",
        "/assets/{id}/history",
        "/assets/tree",
        "/assets/{id}/documents",
    ],
    &[
        "/inspections",
        "/inspections/{id}",
        "/inspections/templates",
        "/inspections/{id}/results",
    ],
    &[
        "/reports/usage",
        "/reports/downtime",
        "/reports/{id}/export",
        "/reports/kpi",
    ],
    &[
        "/maintenance-plans",
        "/maintenance-plans/{id}",
        "/maintenance-plans/{id}/schedule",
    ],
    &["/dashboard/widgets", "/dashboard/summary", "/notifications"],
    &[
        "/parts",
        "/parts/{id}",
        "/parts/stock-levels",
        "/purchase-requests",
    ],
    &[
        "/incidents",
        "/incidents/{id}",
        "/incidents/{id}/attachments",
    ],
    &["/admin/users", "/admin/roles", "/admin/audit-log"],
];
/// Modules whose requests usually filter by asset type.
pub(super) const ASSET_MODULES: [bool; 9] =
    [true, true, true, false, true, false, false, false, false];
/// API paths with non-ASCII or percent-encoded characters (kept verbatim).
pub(super) const UNICODE_PATHS: [&str; 6] = [
    "/assets/by-name/Bomba-Hidráulica-Nº3",
    "/documents/Überprüfung-2026.pdf",
    "/search/tuberías",
    "/tags/设备-泵",
    "/search/caf%C3%A9-molino",
    "/assets/by-name/Kühlturm Ost",
];

pub(super) const ASSET_TYPES: [&str; 12] = [
    "pump",
    "valve",
    "conveyor belt",
    "crusher",
    "haul truck",
    "excavator",
    "motor",
    "transformer",
    "compressor",
    "heat exchanger",
    "generator",
    "screen deck",
];
pub(super) const MULTI_WORD_TYPES: [&str; 4] = [
    "conveyor belt",
    "haul truck",
    "heat exchanger",
    "screen deck",
];
pub(super) const NON_ASCII_TYPE: &str = "bomba hidráulica";
pub(super) const NON_ASCII_RAW: [&str; 4] = [
    "bomba%20hidr%C3%A1ulica",
    "Bomba+hidr%c3%a1ulica",
    "bomba+hidráulica",
    "BOMBA%20HIDR%C3%A1ULICA",
];

pub(super) const OTHER_PARAMS: [&str; 14] = [
    "page=2",
    "page=3",
    "pageSize=50",
    "status=open",
    "status=closed",
    "sort=-updatedAt",
    "priority=high",
    "include=tasks%2Cparts",
    "q=pump+7",
    "from=2026-11-01&to=2026-11-30",
    "view=map",
    "assetTypeId=42",
    "locale=es-CL",
    "fields=id,name,assetType",
];

pub(super) const BROWSERS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "IronManMobile/3.8.1 (Android 14; SM-T736B) okhttp/4.12.0",
];
/// Crawler and probe user agents, in varied case.
pub(super) const BOTS: [&str; 12] = [
    "ELB-HealthChecker/2.0",
    "elb-healthchecker/2.0",
    "kube-probe/1.29",
    "Kube-Probe/1.30",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; GOOGLEBOT/2.1)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 (compatible; BingBot/2.0)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "pingdom-probe/3",
    "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "uptimerobot/2.0",
];
/// Service accounts as written (all match `*@ironman.internal` once normalised).
pub(super) const SERVICE_USERS: [&str; 5] = [
    "svc-sync@ironman.internal",
    "SVC-Reports@IronMan.Internal",
    " etl-loader@ironman.internal ",
    "Monitoring@IRONMAN.INTERNAL",
    "\tsvc-backup@ironman.internal",
];
/// Noise paths a browser session loads (every one matches the noise filter).
pub(super) const STATIC_PATHS: [&str; 16] = [
    "/static/js/main.8f3a1c.js",
    "/static/css/app.4b2e90.css",
    "/static/media/hero.webp",
    "/favicon.ico",
    "/assets/img/Logo.PNG",
    "/assets/fonts/inter-var.woff2",
    "/assets/fonts/icons.woff",
    "/assets/fonts/roboto.ttf",
    "/assets/js/vendor.js.map",
    "/assets/icons/pump.svg",
    "/assets/img/site-map.JPG",
    "/assets/img/bg.jpeg",
    "/assets/img/spinner.gif",
    "/assets/app.CSS?v=3",
    "/assets/js/chunk-42.js#sourcemap",
    "/assets/icons/apple-touch-icon.ico",
];
pub(super) const HEALTH_PATHS: [&str; 6] = [
    "/health",
    "/healthz",
    "/ping",
    "/metrics",
    "/favicon.ico",
    "/health?full=1",
];

pub(super) const FIRST_NAMES: [&str; 30] = [
    "maria",
    "james",
    "wei",
    "priya",
    "olivia",
    "liam",
    "aroha",
    "mateo",
    "sofia",
    "noah",
    "fatima",
    "lucas",
    "emma",
    "jack",
    "chloe",
    "ethan",
    "isla",
    "oliver",
    "mia",
    "leo",
    "josé",
    "zoë",
    "søren",
    "łukasz",
    "françois",
    "björn",
    "renée",
    "małgorzata",
    "çağrı",
    "ana",
];
pub(super) const LAST_NAMES: [&str; 30] = [
    "garcia",
    "smith",
    "zhang",
    "patel",
    "brown",
    "nguyen",
    "walker",
    "ngata",
    "rossi",
    "müller",
    "østergaard",
    "wójcik",
    "núñez",
    "o'brien",
    "lefèvre",
    "ångström",
    "kowalski",
    "silva",
    "tanaka",
    "kim",
    "jones",
    "taylor",
    "white",
    "harris",
    "martin",
    "thompson",
    "lee",
    "clark",
    "lewis",
    "young",
];
/// Customer domains and the UTC offset (minutes) of their working hours.
pub(super) const DOMAINS: [(&str, i32); 7] = [
    ("acme-mining.com", -300),
    ("northwind-energy.com.au", 600),
    ("ferrovia.cl", -180),
    ("pilbara-ore.com.au", 480),
    ("grupo-andino.pe", -300),
    ("nordmetall.de", 60),
    ("kiwi-rail.co.nz", 780),
];
/// Support staff who open a user's session before handing it over.
pub(super) const SUPPORT_USERS: [&str; 2] =
    ["helpdesk.lee@ironman.com", "support.ortiz@ironman.com"];
