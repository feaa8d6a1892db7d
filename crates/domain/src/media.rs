//! What a stored file is, told by its first bytes and never by its name: the photos of field
//! reports and patrols (JPEG, PNG), and the photos and documents attached to a hazard site
//! (those, PDF, and Word or Excel documents).

/// The type of an image by its first bytes: JPEG (`FF D8 FF`) or PNG (its 8-byte signature).
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() >= 8 && bytes.starts_with(PNG) {
        Some("image/png")
    } else if bytes.len() >= 8 && bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

pub const PDF: &str = "application/pdf";
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The type of a document by its content: PDF (`%PDF-`), or an Office Open XML package (a ZIP
/// whose local headers name `[Content_Types].xml` and `word/` or `xl/` parts).
pub fn document_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        return Some(PDF);
    }
    if !bytes.starts_with(b"PK\x03\x04") {
        return None;
    }
    let names = zip_entry_names(bytes);
    if !names.iter().any(|n| *n == b"[Content_Types].xml") {
        return None;
    }
    if names.iter().any(|n| n.starts_with(b"word/")) {
        Some(DOCX)
    } else if names.iter().any(|n| n.starts_with(b"xl/")) {
        Some(XLSX)
    } else {
        None
    }
}

/// The names of a ZIP's entries, read from its local file headers front to back (stops at
/// the first thing that is not one).
fn zip_entry_names(bytes: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    let mut at = 0usize;
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    while bytes.get(at..at + 4) == Some(b"PK\x03\x04") && names.len() < 10_000 {
        let (Some(flags), Some(size), Some(name_len), Some(extra_len)) = (
            u16_at(at + 6),
            u32_at(at + 18),
            u16_at(at + 26),
            u16_at(at + 28),
        ) else {
            break;
        };
        let Some(name) = bytes.get(at + 30..at + 30 + name_len) else {
            break;
        };
        names.push(name);
        // With a data descriptor the size is not in the header: what was read is enough.
        if flags & 0x08 != 0 {
            break;
        }
        at += 30 + name_len + extra_len + size;
    }
    names
}

/// A file's type as a name's extension claims it (lower case, without the dot).
pub fn type_of_extension(ext: &str) -> Option<&'static str> {
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some("image/jpeg"),
        "png" => Some("image/png"),
        "pdf" => Some(PDF),
        "docx" => Some(DOCX),
        "xlsx" => Some(XLSX),
        _ => None,
    }
}

/// The extension a stored file of `content_type` is named with on download.
pub fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        PDF => "pdf",
        DOCX => "docx",
        XLSX => "xlsx",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in names {
            let body = b"x";
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(n.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(body);
        }
        out
    }

    #[test]
    fn a_document_is_a_pdf_or_an_office_package_by_its_content() {
        assert_eq!(document_type(b"%PDF-1.7\n..."), Some(PDF));
        assert_eq!(
            document_type(&zip_with(&["[Content_Types].xml", "word/document.xml"])),
            Some(DOCX)
        );
        assert_eq!(
            document_type(&zip_with(&["[Content_Types].xml", "xl/workbook.xml"])),
            Some(XLSX)
        );
        // Any other ZIP, HTML or a script named .pdf or .docx is none of them.
        assert_eq!(document_type(&zip_with(&["evil.exe"])), None);
        assert_eq!(document_type(b"<html><script>alert(1)</script>"), None);
        assert_eq!(document_type(b"PK\x03\x04"), None);
        assert_eq!(image_type(b"%PDF-1.7\n..."), None);
    }
}
