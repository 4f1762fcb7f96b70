//! The reproducible zip: one executable entry, every byte chosen here.

use anyhow::Context as _;
use std::io::Write as _;

/// 1980-01-01 00:00:00 in MS-DOS form, the earliest a zip can say: the same
/// for every build.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// A regular file (`S_IFREG`) with mode 0755, in the high half of the
/// external attributes, as Info-ZIP and Lambda read them.
const UNIX_MODE: u32 = 0o100_755;
/// "Made by" Unix (3), zip specification 2.0.
const VERSION_MADE_BY: u16 = (3 << 8) | 20;
const VERSION_NEEDED: u16 = 20;
const DEFLATE: u16 = 8;
/// Pinned: another level gives other bytes.
const DEFLATE_LEVEL: u32 = 9;

/// A zip with one entry, `name`, holding `data`: deflated, dated
/// 1980-01-01, mode 0755, no extra fields or comments. Written by hand so
/// that every byte is chosen here.
pub fn zip_single_executable(name: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    use flate2::write::DeflateEncoder;
    let mut encoder = DeflateEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(DEFLATE_LEVEL),
    );
    encoder.write_all(data).context("deflating")?;
    let compressed = encoder.finish().context("deflating")?;
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let crc = crc.sum();

    let too_big = || anyhow::anyhow!("{name} is too large for a zip without zip64 (4 GiB)");
    let size = u32::try_from(data.len()).map_err(|_| too_big())?;
    let csize = u32::try_from(compressed.len()).map_err(|_| too_big())?;
    let name_len = u16::try_from(name.len()).context("entry name too long")?;

    let mut zip = Vec::with_capacity(compressed.len() + 2 * name.len() + 128);
    // Local file header.
    put32(&mut zip, 0x0403_4b50);
    put16(&mut zip, VERSION_NEEDED);
    put16(&mut zip, 0); // flags: sizes known, no data descriptor
    put16(&mut zip, DEFLATE);
    put16(&mut zip, DOS_TIME);
    put16(&mut zip, DOS_DATE);
    put32(&mut zip, crc);
    put32(&mut zip, csize);
    put32(&mut zip, size);
    put16(&mut zip, name_len);
    put16(&mut zip, 0); // no extra field
    zip.extend_from_slice(name.as_bytes());
    zip.extend_from_slice(&compressed);

    // Central directory, one entry.
    let central_start = u32::try_from(zip.len()).map_err(|_| too_big())?;
    put32(&mut zip, 0x0201_4b50);
    put16(&mut zip, VERSION_MADE_BY);
    put16(&mut zip, VERSION_NEEDED);
    put16(&mut zip, 0);
    put16(&mut zip, DEFLATE);
    put16(&mut zip, DOS_TIME);
    put16(&mut zip, DOS_DATE);
    put32(&mut zip, crc);
    put32(&mut zip, csize);
    put32(&mut zip, size);
    put16(&mut zip, name_len);
    put16(&mut zip, 0); // extra field length
    put16(&mut zip, 0); // comment length
    put16(&mut zip, 0); // disk number
    put16(&mut zip, 0); // internal attributes
    put32(&mut zip, UNIX_MODE << 16);
    put32(&mut zip, 0); // the local header's offset
    zip.extend_from_slice(name.as_bytes());
    let central_len = u32::try_from(zip.len()).map_err(|_| too_big())? - central_start;

    // End of central directory.
    put32(&mut zip, 0x0605_4b50);
    put16(&mut zip, 0);
    put16(&mut zip, 0);
    put16(&mut zip, 1);
    put16(&mut zip, 1);
    put32(&mut zip, central_len);
    put32(&mut zip, central_start);
    put16(&mut zip, 0); // comment length
    Ok(zip)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }
    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_zip_has_one_fixed_entry_and_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let zip = zip_single_executable("bootstrap", &data).unwrap();
        assert_eq!(zip, zip_single_executable("bootstrap", &data).unwrap());

        // End of central directory: one entry, where the directory starts.
        let eocd = zip.len() - 22;
        assert_eq!(u32_at(&zip, eocd), 0x0605_4b50);
        assert_eq!(u16_at(&zip, eocd + 10), 1);
        let central = u32_at(&zip, eocd + 16) as usize;
        assert_eq!(u32_at(&zip, central), 0x0201_4b50);
        assert_eq!(u16_at(&zip, central + 4) >> 8, 3, "made by Unix");
        assert_eq!(u16_at(&zip, central + 12), 0, "time 00:00:00");
        assert_eq!(u16_at(&zip, central + 14), 0x21, "date 1980-01-01");
        assert_eq!(u32_at(&zip, central + 38) >> 16, 0o100_755);
        assert_eq!(&zip[central + 46..central + 55], b"bootstrap");

        // The local entry inflates back to the data.
        assert_eq!(u32_at(&zip, 0), 0x0403_4b50);
        let csize = u32_at(&zip, 18) as usize;
        let start = 30 + 9;
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::DeflateDecoder::new(&zip[start..start + csize]),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, data);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        assert_eq!(u32_at(&zip, 14), crc.sum());
    }
}
