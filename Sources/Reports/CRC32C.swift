// CRC-32C (Castagnoli), the checksum of TFRecord framing, and TFRecord's masked form of it.

/// CRC-32C, reflected polynomial 0x82F63B78, as iSCSI (RFC 3720) and TensorFlow compute it.
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: rotated right by 15 bits plus a constant, so a CRC of data that itself holds
    /// CRCs stays well distributed (tensorflow/core/lib/hash/crc32c.h, `Mask`).
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
