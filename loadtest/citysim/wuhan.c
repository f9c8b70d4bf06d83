/* wuhan.c - the Wuhan table and drawing places around its hospitals. */
#include <stdio.h>

#include "place.h"
#include "wuhan.h"

enum { WH_JIANGAN, WH_JIANGHAN, WH_QIAOKOU, WH_WUCHANG, WH_HONGSHAN, WH_HANYANG, WH_DONGXIHU };

#define WUHAN_ROADS_MAX 9

typedef struct wuhan_district_row {
    const char *name;
    const char *roads[WUHAN_ROADS_MAX]; /* NULL-terminated when shorter */
} wuhan_district_row;

static const wuhan_district_row wuhan_districts[] = {
    [WH_JIANGAN] = {"江岸区",
                    {"解放大道", "中山大道", "沿江大道", "胜利街", "黄浦大街", "京汉大道",
                     "建设大道", "香港路", "二七路"}},
    [WH_JIANGHAN] = {"江汉区",
                     {"解放大道", "中山大道", "建设大道", "新华路", "青年路", "唐家墩路", "江汉路",
                      "航空路", "发展大道"}},
    [WH_QIAOKOU] = {"硚口区",
                    {"解放大道", "中山大道", "京汉大道", "汉正街", "武胜路", "宝丰路", "古田二路",
                     "长堤街", "沿河大道"}},
    [WH_WUCHANG] = {"武昌区",
                    {"中山路", "解放路", "武珞路", "中北路", "东湖路", "徐东大街", "和平大道",
                     "彭刘杨路", "友谊大道"}},
    [WH_HONGSHAN] = {"洪山区",
                     {"珞喻路", "武珞路", "卓刀泉路", "关山大道", "鲁磨路", "雄楚大道", "民族大道",
                      "书城路", "珞狮路"}},
    [WH_HANYANG] = {"汉阳区",
                    {"汉阳大道", "鹦鹉大道", "显正街", "龙阳大道", "琴台大道", "墨水湖北路",
                     "江城大道", "归元寺路", "五里墩街"}},
    [WH_DONGXIHU] = {"东西湖区", {"金银潭大道", "东吴大道", "银潭路", "吴家山街", "临空港大道"}},
};

/* Major hospitals. Coordinates are approximate WGS-84 (to within a few
 * hundred metres), good enough to place a simulated city around them; ids
 * are this simulation's, not an official registry's. */
static const wuhan_hospital wuhan_table[] = {
    {"hb-wh-xiehe", "华中科技大学同济医学院附属协和医院", WH_JIANGHAN, 30.5870, 114.2810},
    {"hb-wh-tongji", "华中科技大学同济医学院附属同济医院", WH_QIAOKOU, 30.5815, 114.2620},
    {"hb-wh-renmin", "武汉大学人民医院（湖北省人民医院）", WH_WUCHANG, 30.5360, 114.3000},
    {"hb-wh-zhongnan", "武汉大学中南医院", WH_WUCHANG, 30.5560, 114.3440},
    {"hb-wh-central", "武汉市中心医院", WH_JIANGAN, 30.5835, 114.2960},
    {"hb-wh-tcm", "湖北省中医院", WH_WUCHANG, 30.5500, 114.3050},
    {"hb-wh-first", "武汉市第一医院", WH_QIAOKOU, 30.5710, 114.2660},
    {"hb-wh-third", "武汉市第三医院", WH_WUCHANG, 30.5420, 114.3040},
    {"hb-wh-fourth", "武汉市第四医院", WH_QIAOKOU, 30.5700, 114.2700},
    {"hb-wh-fifth", "武汉市第五医院", WH_HANYANG, 30.5530, 114.2660},
    {"hb-wh-hankou", "武汉市汉口医院", WH_JIANGAN, 30.6150, 114.3040},
    {"hb-wh-children", "武汉儿童医院", WH_JIANGAN, 30.5960, 114.2970},
    {"hb-wh-zhongbu", "中部战区总医院", WH_WUCHANG, 30.5250, 114.3390},
    {"hb-wh-fuyou", "湖北省妇幼保健院", WH_HONGSHAN, 30.5130, 114.3470},
    {"hb-wh-tumour", "湖北省肿瘤医院", WH_HONGSHAN, 30.5050, 114.3780},
    {"hb-wh-liyuan", "华中科技大学同济医学院附属梨园医院", WH_WUCHANG, 30.5700, 114.3730},
    {"hb-wh-jinyintan", "武汉市金银潭医院", WH_DONGXIHU, 30.6640, 114.2390},
};

#define WUHAN_NHOSPITALS (sizeof(wuhan_table) / sizeof(wuhan_table[0]))

/* generic stems: none is a real chain's name */
static const char *const wuhan_stems[] = {
    "江城大药房",   "汉口仁心药房", "楚天康宁药房",   "长江惠民药房", "黄鹤百姓大药房",
    "东湖济民药房", "晴川健康药房", "荆楚同心大药房", "知音便民药房", "三镇安康药房",
};

#define WUHAN_NSTEMS (sizeof(wuhan_stems) / sizeof(wuhan_stems[0]))

const wuhan_hospital *wuhan_hospitals(size_t *n)
{
    *n = WUHAN_NHOSPITALS;
    return wuhan_table;
}

const char *wuhan_district(int district)
{
    return wuhan_districts[district].name;
}

static const char *wuhan_draw_road(rng *r, int district)
{
    const char *const *roads = wuhan_districts[district].roads;
    int n = 0;
    while (n < WUHAN_ROADS_MAX && roads[n])
        n++;
    return roads[rng_range(r, 0, n - 1)];
}

void wuhan_draw_place(rng *r, size_t h, double radius_m, wuhan_place *out)
{
    const wuhan_hospital *hp = &wuhan_table[h % WUHAN_NHOSPITALS];
    out->hospital = hp;
    place_disc_point(r, hp->lat, hp->lon, radius_m, &out->lat, &out->lon);
    out->road = wuhan_draw_road(r, hp->district);
    snprintf(out->address, sizeof(out->address), "武汉市%s%s%d号", wuhan_district(hp->district),
             out->road, rng_range(r, 1, 1500));
}

void wuhan_pharmacy_name(rng *r, const wuhan_place *pl, char *buf, size_t len)
{
    snprintf(buf, len, "%s（%s店）", wuhan_stems[rng_range(r, 0, (int)WUHAN_NSTEMS - 1)], pl->road);
}
