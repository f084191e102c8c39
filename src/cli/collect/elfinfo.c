/* elfinfo.c - USDT notes, symbols and load bias of a target's ELF files, with libelf. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "collect/elfinfo.h"

struct elf_handle {
    int fd;
    Elf *elf;
};

static int elf_open(const char *path, struct elf_handle *h)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        return -EINVAL;
    h->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (h->fd < 0)
        return -errno;
    h->elf = elf_begin(h->fd, ELF_C_READ_MMAP, NULL);
    if (h->elf == NULL || elf_kind(h->elf) != ELF_K_ELF) {
        if (h->elf)
            elf_end(h->elf);
        close(h->fd);
        return -ENOEXEC;
    }
    return 0;
}

static void elf_close(struct elf_handle *h)
{
    elf_end(h->elf);
    close(h->fd);
}

bool ahp_elf_has_usdt(const char *path, const char *provider)
{
    struct elf_handle h;
    if (elf_open(path, &h) < 0)
        return false;
    bool found = false;
    size_t shstrndx;
    Elf_Scn *scn = NULL;
    if (elf_getshdrstrndx(h.elf, &shstrndx) != 0)
        goto out;
    while (!found && (scn = elf_nextscn(h.elf, scn)) != NULL) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == NULL || shdr.sh_type != SHT_NOTE)
            continue;
        const char *name = elf_strptr(h.elf, shstrndx, shdr.sh_name);
        if (name == NULL || strcmp(name, ".note.stapsdt") != 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nhdr;
        while (data && (off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
            if (nhdr.n_type != 3 || nhdr.n_descsz < 3 * 8)
                continue;
            /* desc: pc, base, semaphore (8 bytes each), then provider\0name\0args\0 */
            const char *desc = (const char *)data->d_buf + desc_off;
            size_t rest = nhdr.n_descsz - 3 * 8;
            const char *prov = desc + 3 * 8;
            if (strnlen(prov, rest) < rest && strcmp(prov, provider) == 0) {
                found = true;
                break;
            }
        }
    }
out:
    elf_close(&h);
    return found;
}

static int symbol_in(Elf *elf, Elf_Scn *scn, const char *name, uint64_t *value)
{
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == NULL || shdr.sh_entsize == 0)
        return -ENOENT;
    Elf_Data *data = elf_getdata(scn, NULL);
    if (data == NULL)
        return -ENOENT;
    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; i++) {
        GElf_Sym sym;
        if (gelf_getsym(data, (int)i, &sym) == NULL || sym.st_shndx == SHN_UNDEF)
            continue;
        const char *sname = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (sname && strcmp(sname, name) == 0) {
            *value = sym.st_value;
            return 0;
        }
    }
    return -ENOENT;
}

int ahp_elf_symbol(const char *path, const char *name, uint64_t *value)
{
    struct elf_handle h;
    int rc = elf_open(path, &h);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (int pass = 0; pass < 2 && rc != 0; pass++) {
        Elf_Scn *scn = NULL;
        while (rc != 0 && (scn = elf_nextscn(h.elf, scn)) != NULL) {
            GElf_Shdr shdr;
            if (gelf_getshdr(scn, &shdr) == NULL)
                continue;
            if (shdr.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB))
                rc = symbol_in(h.elf, scn, name, value);
        }
    }
    elf_close(&h);
    return rc;
}

int ahp_elf_load_bias(const char *path, uint64_t start, uint64_t offset, uint64_t *bias)
{
    struct elf_handle h;
    int rc = elf_open(path, &h);
    if (rc < 0)
        return rc;
    size_t n = 0;
    rc = -ENOENT;
    if (elf_getphdrnum(h.elf, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(h.elf, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
                continue;
            uint64_t seg_off = ph.p_offset & ~(uint64_t)0xfff;
            if (offset >= seg_off && offset < ph.p_offset + ph.p_filesz) {
                /* run-time address of file offset OFFSET is START */
                *bias = start - (ph.p_vaddr - ph.p_offset + offset);
                rc = 0;
                break;
            }
        }
    }
    elf_close(&h);
    return rc;
}

bool ahp_elf_is_dynamic(const char *path)
{
    struct elf_handle h;
    if (elf_open(path, &h) < 0)
        return false;
    size_t n = 0;
    bool dynamic = false;
    if (elf_getphdrnum(h.elf, &n) == 0) {
        for (size_t i = 0; i < n && !dynamic; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(h.elf, (int)i, &ph) != NULL && ph.p_type == PT_INTERP)
                dynamic = true;
        }
    }
    elf_close(&h);
    return dynamic;
}
