//! Arrow columns in and out, without a copy: the chunks Python hands over
//! through the Arrow C data interface (by `pyo3-arrow`) are read where they
//! are, as [`Cells`], and a [`StringColumn`] becomes an Arrow
//! `large_string` array that owns the very buffers the core filled.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
    UInt64Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_cast::display::ArrayFormatter;
use arrow_schema::{ArrowError, DataType};
use pyo3_arrow::PyArray;

use pseudolink::provider::column::{digits, Cells, Scratch, StringColumn};

/// One chunk, typed once so that reading a cell is a plain index.
enum Chunk {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    View(StringViewArray),
    Int(Int64Array),
    UInt(UInt64Array),
    /// A decimal with no places: an exact whole number.
    Whole(Decimal128Array),
    Null(usize),
}

impl Chunk {
    fn of(a: &ArrayRef) -> Result<Chunk, String> {
        Ok(match a.data_type() {
            DataType::Utf8 => Chunk::Utf8(a.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Chunk::LargeUtf8(a.as_string::<i64>().clone()),
            DataType::Utf8View => Chunk::View(a.as_string_view().clone()),
            DataType::Int64 => Chunk::Int(a.as_primitive::<Int64Type>().clone()),
            DataType::UInt64 => Chunk::UInt(a.as_primitive::<UInt64Type>().clone()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 => {
                Chunk::of(&arrow_cast::cast(a, &DataType::Int64).map_err(|e| e.to_string())?)?
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => {
                Chunk::of(&arrow_cast::cast(a, &DataType::UInt64).map_err(|e| e.to_string())?)?
            }
            DataType::Decimal128(_, 0) => Chunk::Whole(a.as_primitive::<Decimal128Type>().clone()),
            DataType::Dictionary(_, values) => {
                Chunk::of(&arrow_cast::cast(a, values).map_err(|e| e.to_string())?)?
            }
            DataType::Null => Chunk::Null(a.len()),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                return Err(format!(
                    "a column of floating-point numbers ({}) cannot be tokenised safely: read it as text",
                    a.data_type()
                ))
            }
            other => return Err(format!("the column holds {other}, not text or whole numbers")),
        })
    }

    fn len(&self) -> usize {
        match self {
            Chunk::Utf8(a) => a.len(),
            Chunk::LargeUtf8(a) => a.len(),
            Chunk::View(a) => a.len(),
            Chunk::Int(a) => a.len(),
            Chunk::UInt(a) => a.len(),
            Chunk::Whole(a) => a.len(),
            Chunk::Null(n) => *n,
        }
    }

    fn cell<'s>(&'s self, i: usize, scratch: &'s mut Scratch) -> Option<&'s [u8]> {
        match self {
            Chunk::Utf8(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
            Chunk::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
            Chunk::View(a) => a.is_valid(i).then(|| a.value(i).as_bytes()),
            Chunk::Int(a) => a.is_valid(i).then(|| digits(a.value(i), scratch)),
            Chunk::UInt(a) => a.is_valid(i).then(|| digits(a.value(i), scratch)),
            Chunk::Whole(a) => a.is_valid(i).then(|| digits(a.value(i), scratch)),
            Chunk::Null(_) => None,
        }
    }
}

/// The cells of a chunked column, in order.
pub struct ArrowCells {
    chunks: Vec<Chunk>,
    /// Where each chunk starts, and the total at the end.
    starts: Vec<usize>,
}

impl ArrowCells {
    /// Types every chunk; refuses a column that is not text or whole
    /// numbers (the message names the type, never a value).
    pub fn new(arrays: &[ArrayRef]) -> Result<ArrowCells, String> {
        let chunks = arrays
            .iter()
            .map(Chunk::of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut starts = vec![0];
        for c in &chunks {
            starts.push(starts.last().copied().unwrap_or(0) + c.len());
        }
        Ok(ArrowCells { chunks, starts })
    }
}

impl Cells for ArrowCells {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    fn cell<'s>(&'s self, i: usize, scratch: &'s mut Scratch) -> Option<&'s [u8]> {
        if self.chunks.len() == 1 {
            return self.chunks[0].cell(i, scratch);
        }
        let c = self.starts.partition_point(|&s| s <= i) - 1;
        self.chunks[c].cell(i - self.starts[c], scratch)
    }
}

/// The core's column as an Arrow `large_string` array owning its buffers
/// (moved, not copied).
pub fn export(c: StringColumn) -> Result<PyArray, ArrowError> {
    let n = c.offsets.len() - 1;
    let nulls = NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(c.validity), 0, n));
    let offsets = OffsetBuffer::new(ScalarBuffer::from(c.offsets));
    let array = LargeStringArray::try_new(offsets, Buffer::from_vec(c.data), Some(nulls))?;
    Ok(PyArray::from_array_ref(Arc::new(array)))
}

/// A table Python hands over (an Arrow stream: a pandas or polars
/// DataFrame, a pyarrow Table), read by the relink core as CSV text made
/// a few thousand rows at a time: the same parser, checks and messages as
/// a file, with nothing written anywhere and only one slice of text in
/// memory at once.
pub struct TableCsv {
    batches: Arc<Vec<arrow_array::RecordBatch>>,
    header: Vec<String>,
    /// The next batch, and the next row in it; `None` before the header.
    at: Option<(usize, usize)>,
    /// The columns of batch `at.0`, typed once for the whole batch.
    fields: Vec<Field>,
    text: Vec<u8>,
    pos: usize,
}

/// One column of a batch as CSV fields: text and whole numbers read as the
/// token columns are ([`Chunk`]: text as it is, the common case and the
/// fast one), anything else (dates, decimals with places, floats) through
/// Arrow's own formatter; a null is an empty field.
enum Field {
    Cells(Chunk),
    Other(ArrayRef),
}

impl Field {
    fn of(a: &ArrayRef) -> Field {
        Chunk::of(a).map_or_else(|_| Field::Other(a.clone()), Field::Cells)
    }
}

/// A [`Field`] ready to write rows from.
enum View<'a> {
    Cells(&'a Chunk),
    Formatted(ArrayFormatter<'a>),
}

/// Rows turned into text at a time.
const ROWS_AT_A_TIME: usize = 4096;

impl TableCsv {
    /// A reader from the table's start.
    pub fn new(header: Vec<String>, batches: Arc<Vec<arrow_array::RecordBatch>>) -> TableCsv {
        TableCsv {
            batches,
            header,
            at: None,
            fields: Vec::new(),
            text: Vec::new(),
            pos: 0,
        }
    }

    /// Makes the next slice of text; false at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        use std::fmt::Write as _;
        self.text.clear();
        self.pos = 0;
        let mut w = csv::WriterBuilder::new().from_writer(&mut self.text);
        let Some((mut b, mut row)) = self.at else {
            w.write_record(&self.header)?;
            w.flush()?;
            drop(w);
            self.at = Some((0, 0));
            return Ok(true);
        };
        while b < self.batches.len() && row >= self.batches[b].num_rows() {
            (b, row) = (b + 1, 0);
        }
        let Some(batch) = self.batches.get(b) else {
            return Ok(false);
        };
        if row == 0 {
            self.fields = batch.columns().iter().map(Field::of).collect();
        }
        let options = arrow_cast::display::FormatOptions::default();
        let views = self
            .fields
            .iter()
            .map(|f| match f {
                Field::Cells(c) => Ok(View::Cells(c)),
                Field::Other(a) => {
                    ArrayFormatter::try_new(a.as_ref(), &options).map(View::Formatted)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let end = (row + ROWS_AT_A_TIME).min(batch.num_rows());
        let (mut scratch, mut cell) = ([0u8; 48], String::new());
        for i in row..end {
            for view in &views {
                match view {
                    View::Cells(c) => w.write_field(c.cell(i, &mut scratch).unwrap_or(b""))?,
                    View::Formatted(f) => {
                        cell.clear();
                        write!(cell, "{}", f.value(i)).map_err(std::io::Error::other)?;
                        w.write_field(&cell)?;
                    }
                }
            }
            w.write_record(None::<&[u8]>)?;
        }
        w.flush()?;
        drop(w);
        self.at = Some((b, end));
        Ok(true)
    }
}

impl std::io::Read for TableCsv {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.text.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.text.len() - self.pos);
        out[..n].copy_from_slice(&self.text[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A table from Python as a relink input named `name` in messages.
pub fn in_memory(name: String, table: pyo3_arrow::PyTable) -> pseudolink::error::InMemory {
    let (batches, schema) = table.into_inner();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let batches = Arc::new(batches);
    pseudolink::error::InMemory {
        name,
        open: Arc::new(move || Box::new(TableCsv::new(header.clone(), batches.clone()))),
    }
}
