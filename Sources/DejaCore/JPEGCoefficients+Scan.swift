extension JPEGCoefficients.Decoder {
    typealias Unsupported = JPEGCoefficients.Unsupported

    /// What one scan codes: its components (indices into the frame's), tables and spectral band.
    private struct Scan {
        var components: [Int] = []
        var dcTables: [JPEGHuffmanTable?] = []
        var acTables: [JPEGHuffmanTable?] = []
        var start = 0
        var end = 63
        var high = 0
        var low = 0
    }

    /// Reads one SOS header and its entropy-coded data into the coefficients.
    mutating func scan(header: UnsafeBufferPointer<UInt8>, data: UnsafeBufferPointer<UInt8>) throws(Unsupported) {
        guard sawFrame else { throw Unsupported("a scan before the frame header") }
        let count = header.isEmpty ? 0 : Int(header[0])
        guard (1...4).contains(count), header.count == 4 + 2 * count else { throw Unsupported("a bad scan header") }
        var scan = Scan()
        for s in 0..<count {
            guard let c = image.components.firstIndex(where: { $0.identifier == header[1 + 2 * s] }), !scan.components.contains(c) else {
                throw Unsupported("a scan of an unknown or repeated component")
            }
            let selectors = header[2 + 2 * s]
            guard selectors >> 4 < 4, selectors & 0x0F < 4 else { throw Unsupported("a bad scan header") }
            scan.components.append(c)
            scan.dcTables.append(dcTables[Int(selectors >> 4)])
            scan.acTables.append(acTables[Int(selectors & 0x0F)])
            if image.components[c].quantisation == nil {
                // libjpeg latches a component's table when its first scan starts.
                guard let table = quantisation[image.components[c].tableSlot] else { throw Unsupported("a component without a quantisation table") }
                image.components[c].quantisation = table
            }
        }
        scan.start = Int(header[1 + 2 * count])
        scan.end = Int(header[2 + 2 * count])
        scan.high = Int(header[3 + 2 * count] >> 4)
        scan.low = Int(header[3 + 2 * count] & 0x0F)
        if count > 1 {
            let blocks = scan.components.reduce(0) { $0 + image.components[$1].horizontal * image.components[$1].vertical }
            guard blocks <= 10 else { throw Unsupported("more than 10 blocks in an MCU") }
        }
        try checkProgression(scan)
        try decode(scan, data: data)
    }

    /// Refuses what libjpeg refuses or warns about, and any coefficient coded twice; then records what
    /// the scan codes.
    private mutating func checkProgression(_ scan: Scan) throws(Unsupported) {
        guard image.progressive else {
            guard scan.start == 0, scan.end == 63, scan.high == 0, scan.low == 0 else { throw Unsupported("a sequential scan that is not 0…63") }
            for c in scan.components {
                guard image.components[c].known[0] == -1 else { throw Unsupported("a component scanned twice") }
                image.components[c].known = [Int8](repeating: 0, count: 64)
            }
            return
        }
        let isDC = scan.start == 0
        guard isDC ? scan.end == 0 : scan.start <= scan.end && scan.end <= 63 && scan.components.count == 1,
              scan.high == 0 || scan.low == scan.high - 1, scan.low <= 13
        else { throw Unsupported("a bad progression") }
        for c in scan.components {
            guard isDC || image.components[c].known[0] >= 0 else { throw Unsupported("AC coefficients before their DC") }
            for k in scan.start...scan.end {
                let known = Int(image.components[c].known[k])
                guard scan.high == 0 ? known == -1 : known == scan.high else { throw Unsupported("a scan that refines what was not coded") }
                image.components[c].known[k] = Int8(scan.low)
            }
        }
    }

    private func table(_ table: JPEGHuffmanTable?, dc: Bool) throws(Unsupported) -> JPEGHuffmanTable {
        guard let table, !dc || table.isValidForDC else { throw Unsupported("a scan without its Huffman table") }
        return table
    }

    /// How a scan codes each block, with the Huffman tables it needs (one per scan component).
    private enum Coding {
        case sequential(dc: [JPEGHuffmanTable], ac: [JPEGHuffmanTable])
        case firstDC([JPEGHuffmanTable])
        case refineDC
        case firstAC
        case refineAC
    }

    private func coding(_ scan: Scan) throws(Unsupported) -> Coding {
        var dc: [JPEGHuffmanTable] = [], ac: [JPEGHuffmanTable] = []
        for s in scan.components.indices {
            if !image.progressive || scan.start == 0 && scan.high == 0 { dc.append(try table(scan.dcTables[s], dc: true)) }
            if !image.progressive || scan.start > 0 { ac.append(try table(scan.acTables[s], dc: false)) }
        }
        switch (image.progressive, scan.start == 0, scan.high == 0) {
        case (false, _, _): return .sequential(dc: dc, ac: ac)
        case (true, true, true): return .firstDC(dc)
        case (true, true, false): return .refineDC
        case (true, false, true): return .firstAC
        case (true, false, false): return .refineAC
        }
    }

    private mutating func decode(_ scan: Scan, data: UnsafeBufferPointer<UInt8>) throws(Unsupported) {
        let coding = try coding(scan)
        // An AC scan codes one component (checkProgression), with its table.
        var band = Band(table: scan.start > 0 ? try table(scan.acTables[0], dc: false) : nil, start: scan.start, end: scan.end, low: scan.low)
        let components = scan.components.map { image.components[$0] }
        let single = components.count == 1
        let mcuColumns = single ? components[0].widthInBlocks : (image.width + 8 * maxHorizontal - 1) / (8 * maxHorizontal)
        let mcuRows = single ? components[0].heightInBlocks : (image.height + 8 * maxVertical - 1) / (8 * maxVertical)
        let interval = restartInterval
        var reader = JPEGBitReader(data)
        var predictors = [Int32](repeating: 0, count: components.count)
        var restart: UInt8 = 0
        let low = scan.low
        let result = image.coefficients.withUnsafeMutableBufferPointer { all -> Result<Void, Unsupported> in
            Result { () throws(Unsupported) in
                guard let origin = all.baseAddress else { return }
                for mcu in 0..<mcuColumns * mcuRows {
                    if interval > 0, mcu > 0, mcu % interval == 0 {
                        try reader.finishInterval(expecting: restart)
                        restart = (restart + 1) & 7
                        for s in predictors.indices { predictors[s] = 0 }
                        band.run = 0
                    }
                    let column = mcu % mcuColumns, row = mcu / mcuColumns
                    for (s, component) in components.enumerated() {
                        let h = single ? 1 : component.horizontal, v = single ? 1 : component.vertical
                        for y in 0..<v {
                            for x in 0..<h {
                                let block = origin + component.base + ((row * v + y) * component.storedWidth + column * h + x) * 64
                                switch coding {
                                case .sequential(let dc, let ac):
                                    try Self.sequential(block, dc: dc[s], ac: ac[s], predictor: &predictors[s], reader: &reader)
                                case .firstDC(let dc):
                                    predictors[s] += try reader.signed(Int(try dc[s].decode(&reader)))
                                    block[0] = try Self.coefficient(Int64(predictors[s]) << low)
                                case .refineDC:
                                    if try reader.bit() { block[0] |= Int16(1 << low) }
                                case .firstAC:
                                    try band.first(block, reader: &reader)
                                case .refineAC:
                                    try band.refine(block, reader: &reader)
                                }
                            }
                        }
                    }
                }
                try reader.finishInterval(expecting: nil)
            }
        }
        try result.get()
    }

    @inline(__always)
    fileprivate static func coefficient(_ value: Int64) throws(Unsupported) -> Int16 {
        guard let coefficient = Int16(exactly: value) else { throw Unsupported("a coefficient out of range") }
        return coefficient
    }

    /// A baseline block: the DC difference, then run/size pairs to an EOB or the 63rd coefficient.
    @inline(__always)
    private static func sequential(
        _ block: UnsafeMutablePointer<Int16>,
        dc: JPEGHuffmanTable,
        ac: JPEGHuffmanTable,
        predictor: inout Int32,
        reader: inout JPEGBitReader
    ) throws(Unsupported) {
        let size = Int(try dc.decode(&reader))
        predictor += try reader.signed(size)
        block[0] = try coefficient(Int64(predictor))
        var k = 1
        while k < 64 {
            let symbol = try ac.decode(&reader)
            let zeros = Int(symbol >> 4), size = Int(symbol & 0x0F)
            if size != 0 {
                k += zeros
                guard k < 64 else { throw Unsupported("a run past the end of a block") }
                block[JPEGCoefficients.natural[k]] = Int16(try reader.signed(size))
            } else if zeros == 15 {
                k += 15
            } else {
                return
            }
            k += 1
        }
    }
}

/// An AC band of a progressive scan of one component: its table, its coefficients, the bit it codes, and
/// the EOB run in progress (which spans blocks).
private struct Band {
    typealias Unsupported = JPEGCoefficients.Unsupported
    let table: JPEGHuffmanTable?
    let start: Int
    let end: Int
    let low: Int
    var run = 0

    /// The first scan of the band: run/size pairs, ZRL, and EOB runs.
    mutating func first(_ block: UnsafeMutablePointer<Int16>, reader: inout JPEGBitReader) throws(Unsupported) {
        guard let table else { throw Unsupported("a scan without its Huffman table") }
        if run > 0 {
            run -= 1
            return
        }
        var k = start
        while k <= end {
            let symbol = try table.decode(&reader)
            let zeros = Int(symbol >> 4), size = Int(symbol & 0x0F)
            if size != 0 {
                k += zeros
                guard k <= end else { throw Unsupported("a run past the end of a band") }
                block[JPEGCoefficients.natural[k]] = try JPEGCoefficients.Decoder.coefficient(Int64(try reader.signed(size)) << low)
            } else if zeros == 15 {
                k += 15
            } else {
                run = (1 << zeros) + Int(try reader.bits(zeros)) - 1
                return
            }
            k += 1
        }
    }

    /// A refinement scan of the band (T.81 G.1.2.3, as libjpeg's `decode_mcu_AC_refine`): one correction
    /// bit for each coefficient already nonzero, new coefficients of ±1 at this bit, EOB runs.
    mutating func refine(_ block: UnsafeMutablePointer<Int16>, reader: inout JPEGBitReader) throws(Unsupported) {
        guard let table else { throw Unsupported("a scan without its Huffman table") }
        let bit = Int16(1) << low
        var k = start
        if run == 0 {
            while k <= end {
                let symbol = try table.decode(&reader)
                var zeros = Int(symbol >> 4)
                let size = Int(symbol & 0x0F)
                var newValue: Int16 = 0
                if size != 0 {
                    guard size == 1 else { throw Unsupported("a refinement of more than one bit") }
                    newValue = try reader.bit() ? bit : -bit
                } else if zeros != 15 {
                    run = 1 << zeros
                    if zeros > 0 { run += Int(try reader.bits(zeros)) }
                    break
                }
                // Past coefficients already nonzero (each with a correction bit) and `zeros` still zero.
                while k <= end {
                    let index = JPEGCoefficients.natural[k]
                    if block[index] != 0 {
                        try Self.correct(&block[index], bit: bit, reader: &reader)
                    } else {
                        if zeros == 0 { break }
                        zeros -= 1
                    }
                    k += 1
                }
                if newValue != 0 {
                    guard k <= end else { throw Unsupported("a run past the end of a band") }
                    block[JPEGCoefficients.natural[k]] = newValue
                }
                k += 1
            }
        }
        if run > 0 {
            while k <= end {
                let index = JPEGCoefficients.natural[k]
                if block[index] != 0 { try Self.correct(&block[index], bit: bit, reader: &reader) }
                k += 1
            }
            run -= 1
        }
    }

    /// A correction bit for a coefficient already nonzero: 1 adds `bit` to its magnitude.
    @inline(__always)
    private static func correct(_ value: inout Int16, bit: Int16, reader: inout JPEGBitReader) throws(Unsupported) {
        if try reader.bit(), value & bit == 0 {
            value = try JPEGCoefficients.Decoder.coefficient(Int64(value) + Int64(value >= 0 ? bit : -bit))
        }
    }
}
