import Crypto
@testable import DejaCore
import Testing

/// The page memo's pixel identity of a PNG (docs/canonical-form.md §5.7): the SHA-256 the worker takes of
/// the array OpenCV decodes, read only from PNGs whose rows are that array and nothing else changes it.
@Suite struct PagePixelsTests {
    static let image = TestPNG(width: 13, height: 7) { x, y, channel in (x * 31 + y * 17 + channel * 71) & 0xFF }

    /// The worker's `pixel_identity`, written out: `deja-rgb8`, 0, width and height big-endian, RGB rows.
    static func expected(_ png: TestPNG) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("deja-rgb8".utf8) + [0, 0, 0, 0, UInt8(png.width), 0, 0, 0, UInt8(png.height)])
        for row in png.rows { hasher.update(data: row) }
        return Hex.encode(hasher.finalize())
    }

    @Test func isTheSHA256OfTheRGBRowsTheWorkerHashes() {
        #expect(PagePixels.identity(png: Self.image.encode())?.hex == Self.expected(Self.image))
    }

    @Test func theSamePixelsHaveOneIdentityHoweverTheyAreCompressed() {
        let plain = PagePixels.identity(png: Self.image.encode())
        #expect(plain != nil)
        #expect(PagePixels.identity(png: Self.image.encode(level: .bestCompression, filter: .cycle, idatSize: 20)) == plain)
        #expect(PagePixels.identity(png: Self.image.encode(before: [("pHYs", [0, 0, 11, 19, 0, 0, 11, 19, 1])])) == plain,
                "chunks no decoder uses to make pixels change nothing")
    }

    @Test func anyPixelChangesIt() {
        let plain = PagePixels.identity(png: Self.image.encode())
        for (y, x) in [(0, 0), (3, 20), (6, 38)] {
            var changed = Self.image
            changed.rows[y][x] ^= 1
            #expect(PagePixels.identity(png: changed.encode()) != plain)
        }
        let wider = TestPNG(width: 7, height: 13) { x, y, channel in (y * 31 + x * 17 + channel * 71) & 0xFF }
        #expect(PagePixels.identity(png: wider.encode()) != plain, "the size is part of it")
    }

    @Test func otherPNGsHaveNone() {
        #expect(PagePixels.identity(png: Self.image.encode(interlaced: true)) == nil)
        #expect(PagePixels.identity(png: Self.image.encode(before: [("gAMA", [0, 0, 0xB1, 0x8F])])) == nil)
        #expect(PagePixels.identity(png: Self.image.encode(before: [("iCCP", Array("icc\0\0".utf8))])) == nil)
        var withAlpha = Self.image
        withAlpha.transparency = [0, 1, 0, 2, 0, 3]
        #expect(PagePixels.identity(png: withAlpha.encode()) == nil)
        for (depth, colour) in [(8, 0), (8, 6), (16, 2), (8, 4)] as [(UInt8, UInt8)] {
            let other = TestPNG(width: 5, height: 5, bitDepth: depth, colourType: colour) { x, y, _ in x + y }
            #expect(PagePixels.identity(png: other.encode()) == nil, "bit depth \(depth), colour type \(colour)")
        }
        #expect(PagePixels.identity(png: Array(Self.image.encode().dropLast(30))) == nil)
        #expect(PagePixels.identity(png: Array("not a PNG".utf8)) == nil)
    }
}
